#!/usr/bin/env node
// `npm start`: builds what is missing (code-server runtime, extension, Next build), then runs the
// portal (which starts dynalite itself when DYNAMODB_ENDPOINT is unset). Ctrl-C stops it all.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuilt } from './build-if-stale.mjs';

process.env.NEXT_TELEMETRY_DISABLED ??= '1';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 9)) {
  console.error(`Node ${process.versions.node} is too old: the portal needs Node >= 20.9.`);
  process.exit(1);
}
if (!existsSync(path.join(root, 'node_modules'))) {
  console.error('Dependencies are missing: run `npm ci` first.');
  process.exit(1);
}

const step = (title, cmd, args) => {
  console.log(`\n▶ ${title}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(
      `✗ ${title} failed (exit ${r.status}). Fix the error above and run npm start again.`,
    );
    process.exit(r.status ?? 1);
  }
};

if (
  (process.env.DRIVER ?? 'local') === 'local' &&
  existsSync(path.join(root, 'instance/runtime/install.mjs'))
) {
  step('code-server runtime', process.execPath, ['instance/runtime/install.mjs']);
  step('AI extension (.vsix, installed into the shared extensions dir)', 'npm', [
    'run',
    '--silent',
    'build',
    '-w',
    'instance/extension',
  ]);
}
ensureBuilt(root);

console.log('\n▶ starting the portal');
const portal = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
  cwd: path.join(root, 'portal'),
  stdio: 'inherit',
  env: { NODE_ENV: 'production', ...process.env },
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => portal.kill(signal));
}
portal.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
