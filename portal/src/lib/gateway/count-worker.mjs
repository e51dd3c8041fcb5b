// @ts-check
/**
 * Worker thread for exact token counts (see counting.ts). Loads tiktoken once (~300 ms, off the
 * event loop), then answers `{ id, op: 'prompt' | 'text', model, request | text }` with
 * `{ id, tokens }` or `{ id, error }`.
 */
import { parentPort } from 'node:worker_threads';
import { get_encoding } from 'tiktoken';
import { countText, encodingForModel, promptSize } from './count-core.mjs';

if (!parentPort) throw new Error('count-worker must run as a worker thread');
const port = parentPort;

/** @type {Map<string, import('tiktoken').Tiktoken>} */
const encoders = new Map();
/** @param {'o200k_base' | 'cl100k_base'} name */
function encoder(name) {
  let e = encoders.get(name);
  if (!e) {
    e = get_encoding(name);
    encoders.set(name, e);
  }
  return e;
}
encoder('o200k_base');

port.on('message', (msg) => {
  try {
    const enc = encoder(encodingForModel(msg.model));
    const tokens =
      msg.op === 'prompt'
        ? promptSize(msg.request, (t) => countText(enc, t))
        : countText(enc, String(msg.text));
    port.postMessage({ id: msg.id, tokens });
  } catch (e) {
    port.postMessage({ id: msg.id, error: e instanceof Error ? e.message : String(e) });
  }
});
port.postMessage({ ready: true });
