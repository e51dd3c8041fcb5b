import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChallengeCatalog } from '@/lib/challenges/catalog';
import { challengesDir } from '@/lib/config/paths';

describe('the shipped challenges', () => {
  it('all load without problems, at least four across languages and levels', async () => {
    const catalog = new ChallengeCatalog(challengesDir);
    expect(await catalog.problems()).toEqual([]);
    const list = await catalog.list();
    expect(list.length).toBeGreaterThanOrEqual(4);
    expect(new Set(list.map((c) => c.language)).size).toBeGreaterThanOrEqual(2);
    expect(new Set(list.map((c) => c.difficulty)).size).toBeGreaterThanOrEqual(2);
    for (const c of list) expect(await catalog.dirOf(c.id)).toBe(path.join(challengesDir, c.id));
  });
});

describe('ChallengeCatalog', () => {
  it('reports a bad challenge.json instead of serving it', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'challenges-'));
    mkdirSync(path.join(root, 'good'));
    writeFileSync(
      path.join(root, 'good', 'challenge.json'),
      JSON.stringify({ id: 'good', title: 'Good', difficulty: 'easy', language: 'python', minutes: 30 }),
    );
    mkdirSync(path.join(root, 'bad'));
    writeFileSync(path.join(root, 'bad', 'challenge.json'), JSON.stringify({ id: 'bad', minutes: 'x' }));
    mkdirSync(path.join(root, 'broken'));
    writeFileSync(path.join(root, 'broken', 'challenge.json'), '{');
    const catalog = new ChallengeCatalog(root);
    expect((await catalog.list()).map((c) => c.id)).toEqual(['good']);
    expect((await catalog.problems()).map((p) => path.basename(p.dir)).sort()).toEqual(['bad', 'broken']);
    expect(await catalog.get('bad')).toBeNull();
  });
});
