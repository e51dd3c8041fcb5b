import path from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { alias: { '@': path.resolve(import.meta.dirname, 'src') } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Tests start real processes (dynalite, portal servers, code-server): keep the 2 cores sane.
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks',
  },
});
