import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';

/** Organisation settings, one item per key. Secrets inside are stored encrypted by their owner module. */
export const SETTINGS_KEYS = {
  /** The LLM provider: encrypted API key and optional base URL (lib/gateway/settings.ts). */
  aiProvider: 'ai-provider',
} as const;

export interface AiProviderSettingsItem {
  key: typeof SETTINGS_KEYS.aiProvider;
  /** AES-256-GCM: base64 ciphertext, iv and tag; `keyId` names the encryption key (not secret). */
  apiKey: { ciphertext: string; iv: string; tag: string; keyId: string };
  /** Last 4 characters, for the masked display. */
  last4: string;
  baseUrl?: string;
  updatedAt: number;
}

export class SettingsStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async getAiProvider(): Promise<AiProviderSettingsItem | null> {
    const r = await this.db.send(
      new GetCommand({
        TableName: this.table,
        Key: { key: SETTINGS_KEYS.aiProvider },
        ConsistentRead: true,
      }),
    );
    return (r.Item as AiProviderSettingsItem | undefined) ?? null;
  }

  async putAiProvider(item: AiProviderSettingsItem): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: item }));
  }

  async deleteAiProvider(): Promise<void> {
    await this.db.send(
      new DeleteCommand({ TableName: this.table, Key: { key: SETTINGS_KEYS.aiProvider } }),
    );
  }
}
