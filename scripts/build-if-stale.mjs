// Rebuilds the Next app when any of its sources changed since the last build.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const SOURCES = ['src', 'next.config.ts', 'package.json', 'tsconfig.json'];

function fingerprint(portalDir) {
  const hash = createHash('sha256');
  const walk = (p) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const name of readdirSync(p).sort()) walk(path.join(p, name));
    } else {
      hash.update(`${path.relative(portalDir, p)}:${st.size}:${st.mtimeMs}\n`);
    }
  };
  for (const s of SOURCES) walk(path.join(portalDir, s));
  return hash.digest('hex');
}

export function ensureBuilt(root, { quiet = false } = {}) {
  const portalDir = path.join(root, 'portal');
  const stampFile = path.join(portalDir, '.next', 'source-fingerprint');
  const current = fingerprint(portalDir);
  const built = existsSync(path.join(portalDir, '.next', 'BUILD_ID'));
  if (built && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === current) {
    if (!quiet) console.log('▶ portal build: up to date');
    return;
  }
  console.log('\n▶ building the portal (next build)');
  const r = spawnSync('npm', ['run', 'build', '-w', 'portal'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('✗ next build failed');
    process.exit(r.status ?? 1);
  }
  writeFileSync(stampFile, current);
}

if (import.meta.url === `file://${process.argv[1]}`)
  ensureBuilt(path.resolve(path.dirname(process.argv[1]), '..'));
