import http from 'node:http';

/**
 * True when `url` answers 2xx within `timeoutMs`. Uses node:http, not fetch: inside the portal
 * process Next patches the global fetch, and a request to ourselves from outside any request
 * context must not depend on that.
 */
export function probeHttp(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
