import pino, { type Logger } from 'pino';

export type { Logger };

/** The process logger: JSON lines to stdout. Never pass secrets to it. */
export function createLogger(level: string, name = 'portal'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ['*.token', '*.password', '*.apiKey', '*.authorization'],
      censor: '[redacted]',
    },
  });
}
