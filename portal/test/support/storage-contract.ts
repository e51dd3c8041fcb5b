import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import type { Storage } from '@/lib/storage/storage';

/** The Storage contract: FsStorage and S3Storage pass the same function. */
export function storageContract(name: string, make: () => Storage) {
  describe(`storage contract: ${name}`, () => {
    const s = make();
    it('put (buffer or stream), head and get round-trip the bytes', async () => {
      expect(await s.put('a/one.txt', Buffer.from('hello'))).toMatchObject({
        key: 'a/one.txt',
        bytes: 5,
      });
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
      const failing = new Readable({
        read() {
          this.destroy(new Error('boom'));
        },
      });
      await expect(s.put('c/broken', failing)).rejects.toThrow('boom');
      expect(await s.head('c/broken')).toBeNull();
      expect(await s.list('c/')).toEqual([]);
    });
    it('a large stream (many chunks, over 12 MiB) round-trips byte for byte', async () => {
      const chunk = (i: number) => Buffer.alloc(1024 * 1024, i);
      await s.put(
        'big/blob',
        Readable.from(
          (function* () {
            for (let i = 0; i < 13; i++) yield chunk(i);
          })(),
        ),
      );
      expect((await s.head('big/blob'))?.bytes).toBe(13 * 1024 * 1024);
      const got: Buffer[] = [];
      for await (const c of (await s.get('big/blob'))!) got.push(c as Buffer);
      expect(
        Buffer.concat(got).equals(Buffer.concat(Array.from({ length: 13 }, (_, i) => chunk(i)))),
      ).toBe(true);
      await s.delete('big/blob');
    });
    it('keys that could escape the store are refused', async () => {
      for (const bad of ['../x', '/abs', 'a//b', 'a/../b', ''])
        await expect(s.put(bad, Buffer.from(''))).rejects.toThrow('invalid storage key');
    });
  });
}
