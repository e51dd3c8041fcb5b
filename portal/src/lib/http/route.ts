import { z } from 'zod';
import { getRuntime, type Runtime } from '../runtime';
import { ApiError, badRequest, isApiError, unauthorized, zodFields } from './errors';
import { isAdminRequest } from '../auth/admin';

type Schema = z.ZodType;
type Out<S> = S extends Schema ? z.output<S> : undefined;

export interface RouteSpec<P, Q, B> {
  /** `admin`: needs the interviewer's credentials. `public`: anyone. */
  auth: 'admin' | 'public';
  params?: P;
  query?: Q;
  body?: B;
}

export interface RouteContext<P, Q, B> {
  params: Out<P>;
  query: Out<Q>;
  body: Out<B>;
  request: Request;
  runtime: Runtime;
}

type Handler<P, Q, B> = (ctx: RouteContext<P, Q, B>) => Promise<Response | unknown>;

const MAX_BODY_BYTES = 256 * 1024;

/**
 * Builds a Next route handler: authorizes, validates params, query and body with zod (400 with
 * field errors before the handler runs), then maps thrown ApiErrors to the one error shape.
 * Handlers return a Response, or a value sent as 200 JSON.
 */
export function route<
  P extends Schema | undefined,
  Q extends Schema | undefined,
  B extends Schema | undefined,
>(spec: RouteSpec<P, Q, B>, handler: Handler<P, Q, B>) {
  return async (request: Request, ctx: { params: Promise<Record<string, string | string[]>> }) => {
    try {
      const runtime = getRuntime();
      if (spec.auth === 'admin' && !isAdminRequest(request, runtime)) throw unauthorized();
      const params = parse('params', spec.params, await ctx.params);
      const url = new URL(request.url);
      const query = parse('query', spec.query, Object.fromEntries(url.searchParams));
      const body = spec.body ? parse('body', spec.body, await readJson(request)) : undefined;
      const result = await handler({
        params: params as Out<P>,
        query: query as Out<Q>,
        body: body as Out<B>,
        request,
        runtime,
      });
      return result instanceof Response ? result : Response.json(result);
    } catch (e) {
      return errorResponse(e);
    }
  };
}

function parse(where: string, schema: Schema | undefined, value: unknown): unknown {
  if (!schema) return undefined;
  const result = schema.safeParse(value);
  if (!result.success) throw badRequest(`Invalid ${where}`, zodFields(where, result.error));
  return result.data;
}

async function readJson(request: Request): Promise<unknown> {
  const type = request.headers.get('content-type') ?? '';
  if (!type.toLowerCase().includes('application/json')) {
    throw new ApiError(415, 'unsupported_media_type', 'Send the body as application/json');
  }
  const text = await request.text();
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) {
    throw new ApiError(413, 'payload_too_large', `Body larger than ${MAX_BODY_BYTES} bytes`);
  }
  try {
    return text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw badRequest('Body is not valid JSON', { body: 'not valid JSON' });
  }
}

export function errorResponse(e: unknown): Response {
  if (isApiError(e)) return Response.json(e.toBody(), { status: e.status });
  // Unexpected: log it, answer without internals.
  console.error('[api] unexpected error', e);
  return Response.json({ error: { code: 'internal', message: 'Internal error' } }, { status: 500 });
}
