import path from 'node:path';
import { FsStorage } from './fs-storage';
import { S3Storage } from './s3-storage';
import type { Storage } from './storage';

export type { Storage, ObjectInfo } from './storage';
export { FsStorage } from './fs-storage';
export { S3Storage } from './s3-storage';

/** The process's storage from config: `STORAGE=fs` is DATA_DIR/storage, `s3` the S3_* bucket. */
export function createStorage(config: {
  STORAGE: 'fs' | 's3';
  DATA_DIR: string;
  AWS_REGION: string;
  S3_BUCKET?: string;
  S3_ENDPOINT?: string;
  S3_REGION?: string;
  S3_FORCE_PATH_STYLE: boolean;
}): Storage {
  if (config.STORAGE === 's3') {
    if (!config.S3_BUCKET) throw new Error('STORAGE=s3 needs S3_BUCKET');
    return new S3Storage({
      bucket: config.S3_BUCKET,
      region: config.S3_REGION ?? config.AWS_REGION,
      ...(config.S3_ENDPOINT && { endpoint: config.S3_ENDPOINT }),
      forcePathStyle: config.S3_FORCE_PATH_STYLE,
    });
  }
  return new FsStorage(path.join(config.DATA_DIR, 'storage'));
}
