import path from 'node:path';
import { afterAll } from 'vitest';
import { FsStorage } from '@/lib/storage/fs-storage';
import { storageContract } from '../support/storage-contract';
import { tempDataDir } from './helpers';

const data = tempDataDir();
afterAll(() => data.cleanup());
storageContract('fs', () => new FsStorage(path.join(data.dir, 'storage')));
