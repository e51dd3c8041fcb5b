import http from 'node:http';

/**
 * Creates the Bookmarks API server. It is returned NOT listening: callers do
 * `createServer().listen(port)`. Every call must return an independent server
 * with its own, initially empty, in-memory store.
 *
 * See README.md for the API specification.
 *
 * @returns {http.Server}
 */
export function createServer() {
  // TODO: create the store for this server instance here.

  return http.createServer((req, res) => {
    handleRequest(req, res).catch((err) => {
      console.error(err);
      if (!res.headersSent) {
        sendError(res, 500, 'internal_error', 'Internal server error');
      } else {
        res.destroy(err);
      }
    });
  });
}

/**
 * @param {http.IncomingMessage} req
 * @param {http.ServerResponse} res
 */
async function handleRequest(req, res) {
  const url = new URL(req.url ?? '/', 'http://localhost');

  // TODO: route the request, validate input, use the store, paginate...
  sendError(res, 501, 'not_implemented', `${req.method} ${url.pathname} is not implemented yet`);
}

// ---------------------------------------------------------------------------
// Helpers. Use, change or replace them as you see fit.
// ---------------------------------------------------------------------------

/**
 * Sends `body` as JSON with the given status code.
 *
 * @param {http.ServerResponse} res
 * @param {number} status
 * @param {unknown} body
 * @param {Record<string, string>} [headers]
 */
export function sendJson(res, status, body, headers = {}) {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

/**
 * Sends an error in the API's error format:
 * `{ "error": { "code": ..., "message": ..., "details"?: [...] } }`.
 *
 * @param {http.ServerResponse} res
 * @param {number} status
 * @param {string} code
 * @param {string} message
 * @param {{ field: string, message: string }[]} [details]
 * @param {Record<string, string>} [headers]
 */
export function sendError(res, status, code, message, details, headers = {}) {
  const error = details ? { code, message, details } : { code, message };
  sendJson(res, status, { error }, headers);
}

/**
 * Reads the whole request body as a UTF-8 string.
 *
 * @param {http.IncomingMessage} req
 * @returns {Promise<string>}
 */
export async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
