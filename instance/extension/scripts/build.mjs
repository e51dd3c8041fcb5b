// Packages this extension as dist/interview-ai-chat-<version>.vsix with `vsce package
// --no-dependencies` (offline, ~1 s) and installs it once into the shared read-only extensions
// dir of local instances (EXTENSIONS_DIR, default <RUNTIME_DIR>/extensions) with code-server's
// own `--install-extension`, using the pinned runtime.
//
// vsce comes from the workspace's devDependency `@vscode/vsce` (node_modules/.bin/vsce).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultRuntimeDir, readRuntimeManifest } from '../../runtime/manifest.mjs';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repo = path.resolve(here, '..', '..');
const pkg = JSON.parse(readFileSync(path.join(here, 'package.json'), 'utf8'));
const vsix = path.join(here, 'dist', `${pkg.name}-${pkg.version}.vsix`);

const vsce = [
  path.join(here, 'node_modules/.bin/vsce'),
  path.join(repo, 'node_modules/.bin/vsce'),
].find(existsSync);
if (!vsce) {
  console.error(
    'extension build: @vscode/vsce is not installed (devDependency of instance/extension); run npm install',
  );
  process.exit(1);
}
mkdirSync(path.dirname(vsix), { recursive: true });
execFileSync(
  vsce,
  ['package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '--out', vsix],
  { cwd: here, stdio: 'inherit' },
);

const runtimeDir = defaultRuntimeDir();
const rt = readRuntimeManifest(runtimeDir);
if (!rt) {
  console.error(`extension build: no code-server runtime in ${runtimeDir}; packaged ${vsix} only`);
  process.exit(0);
}
const extensionsDir = process.env.EXTENSIONS_DIR
  ? path.resolve(process.env.EXTENSIONS_DIR)
  : path.join(runtimeDir, 'extensions');
mkdirSync(extensionsDir, { recursive: true });
// code-server writes into its config/data dirs even for --install-extension: give it throwaway ones.
const scratch = mkdtempSync(path.join(tmpdir(), 'ext-install-'));
try {
  execFileSync(
    rt.nodeBin,
    [
      rt.codeServerEntry,
      '--install-extension',
      vsix,
      '--force',
      '--extensions-dir',
      extensionsDir,
      '--user-data-dir',
      path.join(scratch, 'data'),
    ],
    {
      stdio: 'inherit',
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: scratch,
        XDG_CONFIG_HOME: path.join(scratch, 'config'),
        XDG_DATA_HOME: path.join(scratch, 'data'),
        XDG_CACHE_HOME: path.join(scratch, 'cache'),
        TMPDIR: scratch,
      },
    },
  );
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
console.log(
  `extension ${pkg.publisher}.${pkg.name}@${pkg.version} installed into ${extensionsDir}`,
);
