import type { z } from 'zod';

/** The one error shape every API response uses: `{"error":{"code","message","fields?"}}`. */
export interface ErrorBody {
  error: { code: string; message: string; fields?: Record<string, string> };
}

// A brand instead of `instanceof`: Next bundles route handlers separately from the code the
// custom server loads, so one process can hold two copies of this class.
const BRAND = Symbol.for('interview-platform.ApiError');

/** A typed error that services throw and the route builder turns into its HTTP response. */
export class ApiError extends Error {
  readonly [BRAND] = true;
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
  toBody(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.fields && { fields: this.fields }),
      },
    };
  }
}

export function isApiError(e: unknown): e is ApiError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

export const badRequest = (message: string, fields?: Record<string, string>) =>
  new ApiError(400, 'bad_request', message, fields);
export const unauthorized = (message = 'Authentication required') =>
  new ApiError(401, 'unauthorized', message);
export const forbidden = (message = 'Not allowed') => new ApiError(403, 'forbidden', message);
export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);
export const conflict = (message: string) => new ApiError(409, 'conflict', message);
export const aiUnavailable = () =>
  new ApiError(503, 'ai_unavailable', 'The AI gateway is not running in this portal process');

/** Turns zod issues into `{ "body.field.path": "reason" }`. */
export function zodFields(where: string, error: z.ZodError): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const issue of error.issues) {
    const key = [where, ...issue.path.map(String)].join('.');
    fields[key] ??= issue.message;
  }
  return fields;
}
