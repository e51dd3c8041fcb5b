import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface DynamoOptions {
  /** Unset: the SDK's default (real DynamoDB via the standard AWS variables). */
  endpoint?: string;
  region: string;
}

/** One document client per process; the only place the SDK client is configured. */
export function createDocumentClient(opts: DynamoOptions): DynamoDBDocumentClient {
  const client = new DynamoDBClient({
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
  });
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}
