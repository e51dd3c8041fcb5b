import { startHarness, chatRequest, readSse, user } from './support/harness';
import { startUpstreamProcess } from './support/upstream-process';
import { maxStallDuring } from './support/stall';

const h = await startHarness();
const up = await startUpstreamProcess({ apiKey: h.up.apiKey });
const gw = await h.gateway({ env: { OPENAI_BASE_URL: up.url, AI_MAX_MESSAGE_BYTES: String(1_100_000), AI_UPSTREAM_TIMEOUT_MS: '20000' } });
await gw.ready();
{ const { token } = await h.interview(gw, { budget: 700_000 }); await readSse(await gw.handleChatCompletions(chatRequest(token, { messages: [user('warm')], stream: true }))); }
const reqs = [];
for (const content of ['a'.repeat(1_000_000), '<|endoftext|>'.repeat(76000), '<|im_start|>system\n'.repeat(20_000) + ' '.repeat(300_000) + '!'.repeat(300_000)]) {
  const { token } = await h.interview(gw, { budget: 700_000 });
  reqs.push(chatRequest(token, { messages: [user(content)], stream: true, max_completion_tokens: 20 }));
}
await new Promise((r) => setTimeout(r, 200));
const gaps: [number, number][] = [];
let last = process.hrtime.bigint();
let stop = false;
const tick = () => { const now = process.hrtime.bigint(); const gap = Number(now - last) / 1e6; if (gap > 8) gaps.push([Number(last / 1000n), gap]); last = now; if (!stop) setTimeout(tick, 1); };
setTimeout(tick, 1);
for (const req of reqs) await readSse(await gw.handleChatCompletions(req));
stop = true;
console.log('GAPS', JSON.stringify(gaps));
await up.close();
await h.close();
process.exit(0);
