import path from 'node:path';
// The runtime's pins and manifest reader are plain ESM shared with the installer.
import {
  defaultRuntimeDir,
  readRuntimeManifest,
} from '../../../../../instance/runtime/manifest.mjs';

/** Where the pinned code-server lives and how to run it. */
export interface IdeRuntime {
  runtimeDir: string;
  nodeBin: string;
  codeServerEntry: string;
  codeServerVersion: string;
  /** Shared, read-only extensions dir (our extension is installed there once by the build). */
  extensionsDir: string;
}

/**
 * Finds the installed runtime (`RUNTIME_DIR`, default `<repo>/.cache/runtime`). Throws with the
 * command that installs it when it is missing or does not match the pinned versions.
 */
export function locateRuntime(
  opts: { runtimeDir?: string; extensionsDir?: string } = {},
): IdeRuntime {
  const runtimeDir = path.resolve(opts.runtimeDir ?? defaultRuntimeDir({} as NodeJS.ProcessEnv));
  const m = readRuntimeManifest(runtimeDir);
  if (!m) {
    throw new Error(
      `code-server runtime missing or outdated in ${runtimeDir}: run \`node instance/runtime/install.mjs\``,
    );
  }
  return {
    runtimeDir,
    nodeBin: m.nodeBin,
    codeServerEntry: m.codeServerEntry,
    codeServerVersion: m.codeServerVersion,
    extensionsDir: path.resolve(opts.extensionsDir ?? path.join(runtimeDir, 'extensions')),
  };
}
