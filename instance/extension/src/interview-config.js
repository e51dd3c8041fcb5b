// @ts-check
'use strict';
const fs = require('node:fs');

/**
 * @typedef {{ url: string, token: string }} GatewayConfig
 * @typedef {{
 *   interviewId?: string,
 *   gateway?: GatewayConfig,
 *   source: 'file' | 'env' | 'none',
 *   problem?: string,
 * }} InterviewSettings
 */

/**
 * Where the portal's sandbox puts the interview file. Used when INTERVIEW_CONFIG_FILE is not in
 * the environment: bubblewrap's `--clearenv` currently leaves sandboxed instances without any.
 */
const SANDBOX_CONFIG_FILE = '/run/ide/interview.json';

/**
 * What this IDE knows about its interview. The portal writes `{interviewId, gatewayUrl?,
 * gatewayToken?}` to the file named by INTERVIEW_CONFIG_FILE (inside the sandbox
 * /run/ide/interview.json). A warm-pool instance starts before its interview exists and gets the
 * file rewritten when it is claimed, so the file is read on every use and never cached. No
 * gateway fields means the interview has no AI. INTERVIEW_GATEWAY_URL / INTERVIEW_GATEWAY_TOKEN
 * (set only for instances started cold) are used only when the file cannot be read at all.
 */
class InterviewConfig {
  /**
   * @param {{ env?: NodeJS.ProcessEnv, readFile?: (path: string) => string, pollMs?: number }} [deps]
   */
  constructor(deps = {}) {
    this.env = deps.env ?? process.env;
    this.readFile = deps.readFile ?? ((p) => fs.readFileSync(p, 'utf8'));
    this.pollMs = deps.pollMs ?? 2000;
    /** @type {string} */
    this.file = this.env.INTERVIEW_CONFIG_FILE || SANDBOX_CONFIG_FILE;
  }

  /** @returns {InterviewSettings} */
  read() {
    const file = this.file;
    let text;
    try {
      text = this.readFile(file);
    } catch {
      text = undefined;
    }
    if (text !== undefined) return fromFile(text);
    const fromEnv = gatewayOf(this.env.INTERVIEW_GATEWAY_URL, this.env.INTERVIEW_GATEWAY_TOKEN);
    if (fromEnv)
      return {
        source: 'env',
        gateway: fromEnv,
        ...(this.env.INTERVIEW_ID && { interviewId: this.env.INTERVIEW_ID }),
      };
    // No file outside a portal instance (someone's own VS Code) is "no AI", not a fault.
    return {
      source: 'none',
      ...(this.env.INTERVIEW_CONFIG_FILE && { problem: `the interview file ${file} is missing` }),
    };
  }

  /**
   * Calls `onChange` when the file changes (a warm instance claimed, a token reissued). Polls
   * with stat rather than inotify: the file is replaced by rename, and on unsandboxed warm
   * instances its folder is moved and replaced by a symlink, which inotify watches do not follow.
   * @param {() => void} onChange
   * @returns {{ dispose(): void }}
   */
  watch(onChange) {
    const file = this.file;
    /** @param {fs.Stats} cur @param {fs.Stats} prev */
    const listener = (cur, prev) => {
      if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size || cur.ino !== prev.ino)
        onChange();
    };
    fs.watchFile(file, { interval: this.pollMs, persistent: false }, listener);
    return { dispose: () => fs.unwatchFile(file, listener) };
  }
}

/** @param {string} text @returns {InterviewSettings} */
function fromFile(text) {
  let raw;
  try {
    raw = JSON.parse(text);
  } catch {
    return { source: 'file', problem: 'the interview file is not valid JSON' };
  }
  if (!raw || typeof raw !== 'object')
    return { source: 'file', problem: 'the interview file is not a JSON object' };
  const interviewId =
    typeof raw.interviewId === 'string' && raw.interviewId ? raw.interviewId : undefined;
  const gateway = gatewayOf(raw.gatewayUrl, raw.gatewayToken);
  const half = (raw.gatewayUrl !== undefined || raw.gatewayToken !== undefined) && !gateway;
  return {
    source: 'file',
    ...(interviewId && { interviewId }),
    ...(gateway && { gateway }),
    ...(half && {
      problem: 'the interview file names an AI gateway without a valid URL and token',
    }),
  };
}

/**
 * @param {unknown} url
 * @param {unknown} token
 * @returns {GatewayConfig | undefined}
 */
function gatewayOf(url, token) {
  if (typeof url !== 'string' || typeof token !== 'string' || !token.trim()) return undefined;
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  } catch {
    return undefined;
  }
  return { url: url.replace(/\/+$/, ''), token: token.trim() };
}

module.exports = { InterviewConfig };
