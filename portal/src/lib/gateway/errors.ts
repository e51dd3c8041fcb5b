import { ApiError } from '../http/errors';

/**
 * The gateway's typed errors. They use the portal's one error shape
 * (`{"error":{"code","message","fields?"}}`), which OpenAI clients read as `error.message`.
 * Mid-stream the same body goes out as one SSE `data:` line before the stream closes.
 *
 * `retryable: false` adds `x-should-retry: false`, which the OpenAI SDKs obey: retrying a spent
 * budget or a passed deadline only burns the candidate's time.
 */
export class GatewayError extends ApiError {
  constructor(
    status: number,
    code: string,
    message: string,
    readonly retryable = false,
    readonly retryAfterSeconds?: number,
    fields?: Record<string, string>,
  ) {
    super(status, code, message, fields);
    this.name = 'GatewayError';
  }

  headers(): Record<string, string> {
    return {
      'x-should-retry': String(this.retryable),
      ...(this.retryAfterSeconds !== undefined && {
        'retry-after': String(this.retryAfterSeconds),
      }),
    };
  }
}

export const gwErrors = {
  missingToken: () =>
    new GatewayError(
      401,
      'unauthorized',
      'Send the interview gateway token as `Authorization: Bearer <token>`',
    ),
  invalidToken: () => new GatewayError(401, 'invalid_token', 'The gateway token is not valid'),
  tokenRevoked: () => new GatewayError(401, 'token_revoked', 'The gateway token was revoked'),
  tokenExpired: () => new GatewayError(401, 'token_expired', 'The gateway token has expired'),
  deadlinePassed: () =>
    new GatewayError(
      403,
      'deadline_passed',
      "The interview's deadline has passed; the AI assistant is closed",
    ),
  accessEnded: () =>
    new GatewayError(403, 'ai_access_ended', 'The interviewer ended AI access for this interview'),
  notConfigured: () =>
    new GatewayError(
      503,
      'ai_not_configured',
      'AI is not configured: the organisation has no LLM provider key (set OPENAI_API_KEY or save one in Settings)',
    ),
  budgetExhausted: (remaining: number, heldElsewhere: boolean) =>
    new GatewayError(
      402,
      'budget_exhausted',
      heldElsewhere
        ? `The interview's token budget is almost spent (${remaining} tokens free now; more is held by requests in progress, retry shortly)`
        : `The interview's token budget is spent (${remaining} tokens left, too few for a useful answer)`,
      heldElsewhere,
      heldElsewhere ? 1 : undefined,
    ),
  promptTooLarge: (prompt: number, available: number) =>
    new GatewayError(
      402,
      'budget_exhausted',
      `The prompt needs about ${prompt} tokens but only ${available} remain in the interview's budget`,
    ),
  rateLimited: (why: string, retryAfterSeconds: number) =>
    new GatewayError(429, 'rate_limited', why, true, retryAfterSeconds),
  payloadTooLarge: (max: number) =>
    new GatewayError(413, 'payload_too_large', `Request body larger than ${max} bytes`),
  methodNotAllowed: (allow: string) =>
    new GatewayError(405, 'method_not_allowed', `Use ${allow} for this endpoint`),
  unsupportedMediaType: () =>
    new GatewayError(415, 'unsupported_media_type', 'Send the body as application/json'),
  badRequest: (message: string, fields?: Record<string, string>) =>
    new GatewayError(400, 'bad_request', message, false, undefined, fields),
  // Upstream failures. Messages never carry the provider's text for auth errors (OpenAI echoes part of the key).
  upstreamAuth: () =>
    new GatewayError(
      502,
      'upstream_auth',
      "The AI provider rejected the organisation's credentials; ask the interviewer to check the AI settings",
    ),
  upstreamRateLimited: (retryAfterSeconds?: number) =>
    new GatewayError(
      429,
      'upstream_rate_limited',
      'The AI provider is rate-limiting requests; retry shortly',
      true,
      retryAfterSeconds ?? 1,
    ),
  upstreamBadRequest: (message: string) =>
    new GatewayError(
      400,
      'upstream_bad_request',
      `The AI provider refused the request: ${message}`,
    ),
  upstreamError: (status: number) =>
    new GatewayError(
      502,
      'upstream_error',
      `The AI provider failed (status ${status}); retry shortly`,
      true,
    ),
  upstreamTimeout: () =>
    new GatewayError(504, 'upstream_timeout', 'The AI provider did not answer in time', true),
  upstreamUnreachable: () =>
    new GatewayError(502, 'upstream_unreachable', 'The AI provider could not be reached', true),
  upstreamMalformed: () =>
    new GatewayError(
      502,
      'upstream_malformed',
      'The AI provider sent a malformed response; the answer was cut',
    ),
  upstreamTruncated: () =>
    new GatewayError(
      502,
      'upstream_truncated',
      'The AI provider ended the response early; the answer was cut',
    ),
  deadlineReached: () =>
    new GatewayError(
      403,
      'deadline_reached',
      "The interview's deadline was reached; the answer was cut",
    ),
  accessEndedMidStream: () =>
    new GatewayError(403, 'ai_access_ended', 'The interviewer ended AI access; the answer was cut'),
  shuttingDown: () =>
    new GatewayError(503, 'shutting_down', 'The portal is restarting; retry shortly', true),
};

export function isGatewayError(e: unknown): e is GatewayError {
  return e instanceof GatewayError;
}
