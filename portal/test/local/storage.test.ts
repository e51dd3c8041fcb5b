import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsStorage } from '@/lib/storage/fs-storage';
import type { Storage } from '@/lib/storage/storage';
import { tempDataDir } from './helpers';

/** The Storage contract; the S3 implementation must pass the same function. */
export function storageContract(name: string, make: () => Storage) {
  describe(`storage contract: ${name}`, () => {
    const s = make();
    it('put (buffer or stream), head and get round-trip the bytes', async () => {
      expect(await s.put('a/one.txt', Buffer.from('hello'))).toMatchObject({ key: 'a/one.txt', bytes: 5 });
      await s.put('a/two.txt', Readable.from(['str', 'eam']));
      expect((await s.head('a/two.txt'))?.bytes).toBe(6);
      expect(await text((await s.get('a/two.txt'))!)).toBe('stream');
    });
    it('put replaces an object whole', async () => {
      await s.put('a/one.txt', Buffer.from('x'));
      expect(await text((await s.get('a/one.txt'))!)).toBe('x');
    });
    it('missing keys: get and head are null, delete succeeds', async () => {
      expect(await s.get('nope/x')).toBeNull();
      expect(await s.head('nope/x')).toBeNull();
      await s.delete('nope/x');
    });
    it('list returns keys under a prefix, sorted; delete removes', async () => {
      await s.put('b/x', Buffer.from('1'));
      expect(await s.list('a/')).toEqual(['a/one.txt', 'a/two.txt']);
      await s.delete('a/one.txt');
      expect(await s.list('a/')).toEqual(['a/two.txt']);
    });
    it('a failed stream leaves no object behind', async () => {
      const failing = new Readable({ read() { this.destroy(new Error('boom')); } });
      await expect(s.put('c/broken', failing)).rejects.toThrow('boom');
      expect(await s.head('c/broken')).toBeNull();
      expect(await s.list('c/')).toEqual([]);
    });
    it('keys that could escape the store are refused', async () => {
      for (const bad of ['../x', '/abs', 'a//b', 'a/../b', '']) await expect(s.put(bad, Buffer.from(''))).rejects.toThrow('invalid storage key');
    });
  });
}

const data = tempDataDir();
afterAll(() => data.cleanup());
storageContract('fs', () => new FsStorage(path.join(data.dir, 'storage')));
