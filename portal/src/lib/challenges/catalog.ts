import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

export const challengeSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes'),
  title: z.string().min(1).max(200),
  difficulty: z.enum(['easy', 'medium', 'hard']),
  language: z.string().min(1).max(40),
  minutes: z.number().int().min(5).max(600),
  summary: z.string().max(500).optional(),
  testCommand: z.string().max(500).optional(),
});
export type Challenge = z.output<typeof challengeSchema>;

export interface ChallengeProblem {
  dir: string;
  reason: string;
}

/**
 * The challenges on disk: one folder each with a `challenge.json`. Loaded once and cached;
 * a folder with a bad `challenge.json` is reported (never served) rather than failing startup.
 */
export class ChallengeCatalog {
  private loaded?: Promise<{ byId: Map<string, Challenge & { dir: string }>; problems: ChallengeProblem[] }>;

  constructor(private readonly root: string) {}

  async list(): Promise<Challenge[]> {
    const { byId } = await this.load();
    return [...byId.values()]
      .map(({ dir: _dir, ...c }) => c)
      .sort((a, b) => a.title.localeCompare(b.title));
  }

  async get(id: string): Promise<Challenge | null> {
    const c = (await this.load()).byId.get(id);
    if (!c) return null;
    const { dir: _dir, ...rest } = c;
    return rest;
  }

  /** Absolute folder of a challenge's files (for drivers that copy them into a workspace). */
  async dirOf(id: string): Promise<string | null> {
    return (await this.load()).byId.get(id)?.dir ?? null;
  }

  async problems(): Promise<ChallengeProblem[]> {
    return (await this.load()).problems;
  }

  private load() {
    this.loaded ??= this.scan();
    return this.loaded;
  }

  private async scan() {
    const byId = new Map<string, Challenge & { dir: string }>();
    const problems: ChallengeProblem[] = [];
    let entries: string[] = [];
    try {
      entries = (await readdir(this.root, { withFileTypes: true }))
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      problems.push({ dir: this.root, reason: 'challenges folder is missing' });
    }
    for (const name of entries) {
      const dir = path.join(this.root, name);
      try {
        const raw = JSON.parse(await readFile(path.join(dir, 'challenge.json'), 'utf8'));
        const parsed = challengeSchema.safeParse(raw);
        if (!parsed.success) {
          problems.push({ dir, reason: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
        } else if (parsed.data.id !== name) {
          problems.push({ dir, reason: `id "${parsed.data.id}" differs from its folder name` });
        } else {
          byId.set(name, { ...parsed.data, dir });
        }
      } catch (e) {
        problems.push({ dir, reason: `challenge.json unreadable: ${(e as Error).message}` });
      }
    }
    return { byId, problems };
  }
}
