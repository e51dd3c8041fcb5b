import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, type TranslateConfig } from '@aws-sdk/lib-dynamodb';

export interface DynamoOptions {
  /** Unset: the SDK's default (real DynamoDB via the standard AWS variables). */
  endpoint?: string;
  region: string;
}

/**
 * The SDK client's configuration: the only place it is decided. Plain data, so a worker
 * thread (batch-writer.ts) can build the same client.
 */
export function dynamoClientConfig(opts: DynamoOptions): DynamoDBClientConfig {
  return {
    region: opts.region,
    ...(opts.endpoint && {
      endpoint: opts.endpoint,
      // dynalite accepts any credentials; real DynamoDB takes the standard chain.
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
    maxAttempts: 3,
    // A request that never answers must not stall a scheduler tick (and with it deadline sweeps):
    // time out and let the SDK retry. Generous, so a loaded local dynalite is not cut off.
    requestHandler: { requestTimeout: 10_000, connectionTimeout: 3_000 },
  };
}

export const DOCUMENT_OPTIONS: TranslateConfig = {
  marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
};

/** One document client per process. */
export function createDocumentClient(opts: DynamoOptions): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(
    new DynamoDBClient(dynamoClientConfig(opts)),
    DOCUMENT_OPTIONS,
  );
}
