import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The admin API's bearer token: ADMIN_TOKEN when set; otherwise one generated from the CSPRNG
 * on first start and kept in DATA_DIR/admin-token (mode 0600), so there is never an open admin
 * API and a local user can still find their token. The token itself is never logged.
 */
export function resolveAdminToken(
  configured: string | undefined,
  dataDir: string,
): { token: string; file?: string } {
  if (configured) return { token: configured };
  const file = path.join(dataDir, 'admin-token');
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing.length >= 24) return { token: existing, file };
  } catch {
    // missing: create below
  }
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, token + '\n', { mode: 0o600 });
  return { token, file };
}
