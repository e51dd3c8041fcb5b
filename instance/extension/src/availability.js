// @ts-check
'use strict';

/**
 * Pure decisions about what the candidate is told and whether they can send: no I/O, no clock of
 * its own (callers pass `now`), so every state can be checked directly.
 *
 * @typedef {import('./gateway-client').Meter} Meter
 * @typedef {'loading' | 'unconfigured' | 'ready' | 'ended' | 'deadline' | 'exhausted' | 'unauthorized'} StatusKind
 * @typedef {{ kind: StatusKind, title: string, detail: string, canSend: boolean }} Status
 * @typedef {{ code: string, message: string, retryable?: boolean, budget?: number }} Refusal
 *   a refusal that closes the assistant until something changes (see `closingKind`)
 */

/**
 * Which closed state a gateway error code means, if any. Other codes (rate limits, provider
 * failures, a too-large prompt) fail one request and leave the assistant usable.
 * @param {string} code
 * @param {boolean | undefined} retryable
 * @returns {StatusKind | undefined}
 */
function closingKind(code, retryable) {
  switch (code) {
    case 'ai_not_configured':
    case 'not_available':
      return 'unconfigured';
    case 'ai_access_ended':
    case 'token_revoked':
      return 'ended';
    case 'deadline_passed':
    case 'deadline_reached':
    case 'token_expired':
      return 'deadline';
    case 'budget_exhausted':
      // Retryable means the last tokens are held by an answer in progress, not spent.
      return retryable ? undefined : 'exhausted';
    case 'invalid_token':
    case 'unauthorized':
      return 'unauthorized';
    default:
      return undefined;
  }
}

const CLOSED = {
  unconfigured: {
    title: 'AI is not available in this interview',
    detail:
      'The interviewer did not set up an AI assistant for this interview. You can still work on your code.',
  },
  notConfiguredOrg: {
    title: 'AI is not configured',
    detail:
      'The AI assistant has no AI provider set up yet. Tell your interviewer; you can keep working on your code.',
  },
  ended: {
    title: 'AI access has ended',
    detail:
      'The interviewer ended AI access for this interview. You can keep working on your code.',
  },
  revoked: {
    title: 'AI access has ended',
    detail: 'AI access for this interview was closed. You can keep working on your code.',
  },
  deadline: {
    title: 'The deadline has passed',
    detail: "The interview's deadline has passed, so the AI assistant is closed.",
  },
  exhausted: {
    title: 'The AI token budget is spent',
    detail:
      "This interview's AI token budget is used up. Ask your interviewer if you need more tokens.",
  },
  unauthorized: {
    title: 'AI credentials not accepted',
    detail: "The AI gateway did not accept this IDE's credentials. Tell your interviewer.",
  },
};

/**
 * @param {{
 *   gatewayConfigured: boolean,
 *   configProblem?: string,
 *   meter?: Meter,
 *   refusal?: Refusal,
 *   restoring?: boolean,
 *   now: number,
 * }} s
 * @returns {Status}
 */
function decideStatus(s) {
  /** @param {StatusKind} kind @param {{title: string, detail: string}} text @returns {Status} */
  const closed = (kind, text) => ({ kind, ...text, canSend: false });
  if (!s.gatewayConfigured) {
    return closed(
      'unconfigured',
      s.configProblem
        ? {
            title: CLOSED.unconfigured.title,
            detail: `The IDE could not read its AI settings (${s.configProblem}). Tell your interviewer.`,
          }
        : CLOSED.unconfigured,
    );
  }
  const refused = s.refusal ? closingKind(s.refusal.code, s.refusal.retryable) : undefined;
  const m = s.meter;
  // Ended and revoked are final; the meter and the refusal agree on them.
  if (m?.endedAt !== undefined || refused === 'ended')
    return closed(
      'ended',
      s.refusal?.code === 'token_revoked' && m?.endedAt === undefined
        ? CLOSED.revoked
        : CLOSED.ended,
    );
  if (refused === 'unconfigured') return closed('unconfigured', CLOSED.notConfiguredOrg);
  if (refused === 'unauthorized') return closed('unauthorized', CLOSED.unauthorized);
  if ((m && s.now >= m.deadlineAt) || refused === 'deadline')
    return closed('deadline', CLOSED.deadline);
  if ((m && m.used >= m.budget) || refused === 'exhausted')
    return closed('exhausted', CLOSED.exhausted);
  if (s.restoring)
    return { kind: 'loading', title: 'Loading the conversation…', detail: '', canSend: false };
  return { kind: 'ready', title: '', detail: '', canSend: true };
}

/**
 * Whether a newer meter shows that a sticky refusal no longer holds (the interviewer added
 * tokens or time). Ended, revoked, unconfigured and unauthorized only clear on a new config.
 * @param {Refusal} refusal
 * @param {Meter} meter
 * @param {number} now
 */
function meterLiftsRefusal(refusal, meter, now) {
  const kind = closingKind(refusal.code, refusal.retryable);
  if (kind === 'exhausted')
    return (
      meter.used < meter.budget && (refusal.budget === undefined || meter.budget > refusal.budget)
    );
  if (kind === 'deadline') return now < meter.deadlineAt && meter.endedAt === undefined;
  return false;
}

/**
 * One failed request in plain words (shown under the message that failed).
 * @param {{ code: string, message: string, retryAfterSeconds?: number, retryable?: boolean }} e
 * @returns {string}
 */
function describeError(e) {
  const wait = e.retryAfterSeconds
    ? ` Try again in ${e.retryAfterSeconds} s.`
    : ' Try again in a moment.';
  switch (e.code) {
    case 'budget_exhausted':
      return e.retryable
        ? 'The last tokens of the budget are held by an answer in progress.' + wait
        : "This interview's AI token budget is spent, so the question was not sent. Ask your interviewer if you need more tokens.";
    case 'deadline_passed':
    case 'token_expired':
      return "The interview's deadline has passed, so the AI assistant is closed.";
    case 'deadline_reached':
      return "The interview's deadline was reached while answering, so the answer was cut off.";
    case 'ai_access_ended':
      return e.message.includes('cut')
        ? 'The interviewer ended AI access while answering, so the answer was cut off.'
        : 'The interviewer ended AI access for this interview.';
    case 'token_revoked':
      return 'AI access for this interview was closed.';
    case 'invalid_token':
    case 'unauthorized':
      return "The AI gateway did not accept this IDE's credentials. Tell your interviewer.";
    case 'ai_not_configured':
      return 'AI is not configured: no AI provider is set up yet. Tell your interviewer.';
    case 'not_available':
      return 'This interview has no AI assistant.';
    case 'rate_limited':
      return 'Too many questions in a short time.' + wait;
    case 'upstream_rate_limited':
      return 'The AI provider is busy right now.' + wait;
    case 'upstream_timeout':
      return 'The AI provider did not answer in time. Try again.';
    case 'upstream_auth':
      return "The AI provider rejected the organisation's credentials. Tell your interviewer.";
    case 'upstream_truncated':
    case 'upstream_malformed':
    case 'stream_ended':
      return 'The answer was cut off by a connection problem. Try again.';
    case 'upstream_unreachable':
      return 'The AI provider could not be reached. Try again in a moment.';
    case 'upstream_bad_request':
      return `The AI provider refused the question: ${e.message}`;
    case 'payload_too_large':
      return 'The question, with its context and the conversation so far, is too large. Remove some context or start a new conversation.';
    case 'bad_request':
      return `The question was refused: ${e.message}`;
    case 'shutting_down':
    case 'unavailable':
    case 'ai_unavailable':
      return 'The AI gateway is restarting.' + wait;
    case 'unreachable':
      return 'The AI gateway could not be reached. Check your connection and try again.';
    default:
      if (e.code.startsWith('upstream_')) return 'The AI provider failed to answer. Try again.';
      return `${e.message || 'Something went wrong'} (${e.code})`;
  }
}

module.exports = { decideStatus, describeError, closingKind, meterLiftsRefusal };
