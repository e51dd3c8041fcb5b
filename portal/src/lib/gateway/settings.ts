import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ApiError } from '../http/errors';
import type { AiProviderSettingsItem, SettingsStore } from '../store/settings';

/**
 * The organisation's LLM provider settings: an API key stored encrypted at rest (AES-256-GCM,
 * key from AI_SETTINGS_KEY or DATA_DIR/ai-settings.key), shown only masked, never returned,
 * never logged. A saved key takes precedence over OPENAI_API_KEY.
 */
export interface UpstreamCredentials {
  apiKey: string;
  baseURL?: string;
  source: 'settings' | 'env';
}

export interface AiSettingsView {
  configured: boolean;
  /** Where the key in use comes from. */
  source: 'settings' | 'env' | 'none';
  /** e.g. `••••wxyz`; never the key. */
  apiKeyMasked?: string;
  baseUrl?: string;
  updatedAt?: string;
  /** Set when a stored key cannot be decrypted (AI_SETTINGS_KEY changed). */
  problem?: string;
}

export const aiSettingsBody = z.strictObject({
  apiKey: z
    .string()
    .min(8, 'at least 8 characters')
    .max(512, 'at most 512 characters')
    .regex(/^\S+$/, 'no whitespace')
    .optional(),
  /** null clears a stored base URL (then OPENAI_BASE_URL or the provider default applies). */
  baseUrl: z.url().max(2000).nullable().optional(),
});
export type AiSettingsBody = z.output<typeof aiSettingsBody>;

const AAD = Buffer.from('interview-platform:ai-provider-key:v1');
const REFRESH_MS = 5000;

export const maskKey = (key: string) => `••••${key.slice(-4)}`;

export function encryptSecret(key: Buffer, plaintext: string): AiProviderSettingsItem['apiKey'] {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(AAD);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return {
    ciphertext: ciphertext.toString('base64'),
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    keyId: keyId(key),
  };
}

export function decryptSecret(key: Buffer, box: AiProviderSettingsItem['apiKey']): string {
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(box.iv, 'base64'));
  decipher.setAAD(AAD);
  decipher.setAuthTag(Buffer.from(box.tag, 'base64'));
  return Buffer.concat([
    decipher.update(Buffer.from(box.ciphertext, 'base64')),
    decipher.final(),
  ]).toString('utf8');
}

/** A non-secret name for an encryption key (first 8 hex of its SHA-256). */
const keyId = (key: Buffer) => createHash('sha256').update(key).digest('hex').slice(0, 8);

/** Parses a 32-byte key given as 64 hex characters or base64. */
export function parseSettingsKey(value: string): Buffer {
  const v = value.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(v) ? Buffer.from(v, 'hex') : Buffer.from(v, 'base64');
  if (key.length !== 32)
    throw new Error('AI_SETTINGS_KEY must be 32 bytes (64 hex characters or base64)');
  return key;
}

/**
 * The settings encryption key: AI_SETTINGS_KEY, else DATA_DIR/ai-settings.key (created once,
 * mode 0600). Losing the file makes a saved provider key unreadable; it must then be saved again.
 */
export function resolveSettingsKey(c: { AI_SETTINGS_KEY?: string; DATA_DIR: string }): Buffer {
  if (c.AI_SETTINGS_KEY) return parseSettingsKey(c.AI_SETTINGS_KEY);
  const file = path.join(c.DATA_DIR, 'ai-settings.key');
  if (!existsSync(file)) {
    mkdirSync(c.DATA_DIR, { recursive: true });
    try {
      writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    chmodSync(file, 0o600);
  }
  return parseSettingsKey(readFileSync(file, 'utf8'));
}

export class ProviderSettings {
  private current: {
    item: AiProviderSettingsItem | null;
    apiKey?: string;
    problem?: string;
    loadedAt: number;
  } | null = null;
  private loading?: Promise<void>;
  private cached?: { creds: UpstreamCredentials | null; from: unknown };

  constructor(
    private readonly deps: {
      store: SettingsStore;
      /** Null: saving a key is refused (no encryption key). */
      key: Buffer | null;
      env: { apiKey?: string; baseUrl?: string };
      now: () => number;
      log: { warn(o: object, m: string): void };
    },
  ) {}

  /** Loads the stored settings (call once at start; later reads refresh in the background). */
  load(): Promise<void> {
    if (this.loading) return this.loading;
    this.loading = (async () => {
      try {
        const item = await this.deps.store.getAiProvider();
        let apiKey: string | undefined;
        let problem: string | undefined;
        if (item) {
          if (!this.deps.key)
            problem = 'A provider key is stored but no AI_SETTINGS_KEY is available to decrypt it';
          else {
            try {
              apiKey = decryptSecret(this.deps.key, item.apiKey);
            } catch {
              problem =
                'The stored provider key cannot be decrypted (AI_SETTINGS_KEY changed?); save it again';
            }
          }
          if (problem)
            this.deps.log.warn({ keyId: item.apiKey.keyId }, `gateway settings: ${problem}`);
        }
        this.current = {
          item,
          ...(apiKey && { apiKey }),
          ...(problem && { problem }),
          loadedAt: this.deps.now(),
        };
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  /** The credentials to call the provider with, or null when AI is not configured. Never blocks. */
  credentials(): UpstreamCredentials | null {
    const cur = this.current;
    if (cur && this.deps.now() - cur.loadedAt > REFRESH_MS) this.load().catch(() => {});
    if (this.cached && this.cached.from === cur) return this.cached.creds;
    const env = this.deps.env;
    let creds: UpstreamCredentials | null = null;
    if (cur?.apiKey) {
      const baseURL = cur.item?.baseUrl ?? env.baseUrl;
      creds = { apiKey: cur.apiKey, ...(baseURL && { baseURL }), source: 'settings' };
    } else if (env.apiKey) {
      creds = { apiKey: env.apiKey, ...(env.baseUrl && { baseURL: env.baseUrl }), source: 'env' };
    }
    this.cached = { creds, from: cur };
    return creds;
  }

  async view(): Promise<AiSettingsView> {
    await this.load();
    const creds = this.credentials();
    const cur = this.current;
    return {
      configured: creds !== null,
      source: creds?.source ?? 'none',
      ...(creds && { apiKeyMasked: maskKey(creds.apiKey) }),
      ...(creds?.baseURL && { baseUrl: creds.baseURL }),
      ...(cur?.item && { updatedAt: new Date(cur.item.updatedAt).toISOString() }),
      ...(cur?.problem && { problem: cur.problem }),
    };
  }

  async save(body: AiSettingsBody): Promise<AiSettingsView> {
    if (!this.deps.key)
      throw new ApiError(
        503,
        'settings_key_missing',
        'Set AI_SETTINGS_KEY to store a provider key',
      );
    await this.load();
    const existing = this.current?.item ?? null;
    if (!body.apiKey && !existing) {
      throw new ApiError(400, 'bad_request', 'Send apiKey: no provider key is stored yet', {
        'body.apiKey': 'required',
      });
    }
    const apiKey = body.apiKey ?? this.current?.apiKey;
    if (!apiKey)
      throw new ApiError(
        400,
        'bad_request',
        'Send apiKey again: the stored one cannot be decrypted',
        { 'body.apiKey': 'required' },
      );
    const baseUrl = body.baseUrl === undefined ? existing?.baseUrl : (body.baseUrl ?? undefined);
    const item: AiProviderSettingsItem = {
      key: 'ai-provider',
      apiKey: encryptSecret(this.deps.key, apiKey),
      last4: apiKey.slice(-4),
      ...(baseUrl && { baseUrl }),
      updatedAt: this.deps.now(),
    };
    await this.deps.store.putAiProvider(item);
    await this.reload();
    return this.view();
  }

  async clear(): Promise<AiSettingsView> {
    await this.deps.store.deleteAiProvider();
    await this.reload();
    return this.view();
  }

  private async reload(): Promise<void> {
    await this.loading?.catch(() => {});
    await this.load();
  }
}
