import type { Readable } from 'node:stream';

/**
 * Where the platform keeps files it must not lose (candidate archives, later challenge bundles):
 * the filesystem under DATA_DIR locally, S3 at scale. Same contract for both, checked by the same
 * contract tests.
 *
 * Keys are relative, `/`-separated, made of `[A-Za-z0-9._-]` segments (no `..`, no leading `/`).
 * `put` is atomic: a reader sees the old object, or the complete new one, never a partial write.
 */
export interface Storage {
  readonly kind: 'fs' | 's3';
  put(key: string, body: Readable | Buffer): Promise<ObjectInfo>;
  /** The object's bytes, or null when missing. */
  get(key: string): Promise<Readable | null>;
  head(key: string): Promise<ObjectInfo | null>;
  /** Deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
  /** Keys starting with `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;
}

export interface ObjectInfo {
  key: string;
  bytes: number;
  modifiedAt: number;
}

const SEGMENT = /^[A-Za-z0-9._-]+$/;

/** Throws on a key that could escape the store or means different things on fs and S3. */
export function assertKey(key: string): void {
  const parts = key.split('/');
  if (
    key.length === 0 ||
    key.length > 512 ||
    parts.some((p) => !SEGMENT.test(p) || p === '.' || p === '..')
  ) {
    throw new Error(`invalid storage key: ${JSON.stringify(key)}`);
  }
}
