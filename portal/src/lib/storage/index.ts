import path from 'node:path';
import { FsStorage } from './fs-storage';
import type { Storage } from './storage';

export type { Storage, ObjectInfo } from './storage';
export { FsStorage } from './fs-storage';

/** The process's storage from config (`STORAGE=fs`: DATA_DIR/storage). S3 is not built yet. */
export function createStorage(config: { STORAGE: 'fs' | 's3'; DATA_DIR: string }): Storage {
  if (config.STORAGE === 's3') throw new Error('STORAGE=s3 is not implemented yet; use STORAGE=fs');
  return new FsStorage(path.join(config.DATA_DIR, 'storage'));
}
