// Sums vitest JSON reports into the one line CI reads: "N passed, N failed".
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
let passed = 0;
let failed = 0;
let skipped = 0;
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
for (const f of files) {
  const r = JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
  passed += r.numPassedTests ?? 0;
  failed += r.numFailedTests ?? 0;
  // A file that failed with no failing test (an import error, a failing hook) is one more failure.
  for (const file of r.testResults ?? []) {
    const tests = file.assertionResults ?? [];
    if (file.status === 'failed' && !tests.some((t) => t.status === 'failed')) failed += 1;
  }
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
}
if (files.length === 0) failed += 1; // a runner that wrote no report failed
// Non-vitest checks (e.g. the typecheck) leave a `<name>.status` file holding pass or fail.
for (const f of readdirSync(dir).filter((f) => f.endsWith('.status'))) {
  if (readFileSync(path.join(dir, f), 'utf8').trim() === 'pass') passed += 1;
  else failed += 1;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
