import { z } from 'zod';

/** Interview ids: `iv_` + 22 base64url characters (128 random bits). */
export const interviewIdSchema = z.string().regex(/^iv_[A-Za-z0-9_-]{22}$/, 'not an interview id');

const MAX_AHEAD_MS = 366 * 24 * 60 * 60 * 1000;

export const createInterviewSchema = z
  .object({
    candidateName: z.string().trim().min(1, 'required').max(200),
    candidateEmail: z.email().max(320).optional(),
    challengeId: z.string().min(1, 'required').max(64),
    /** ISO 8601 with an offset; default: now. */
    scheduledAt: z.iso.datetime({ offset: true }).optional(),
    durationMinutes: z
      .number()
      .int()
      .min(5)
      .max(8 * 60),
    ai: z
      .object({
        tokenBudget: z.number().int().min(0).max(10_000_000),
        model: z.string().min(1).max(100).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type CreateInterviewInput = z.output<typeof createInterviewSchema>;

export const extendInterviewSchema = z
  .object({
    minutes: z
      .number()
      .int()
      .min(1)
      .max(8 * 60)
      .optional(),
    tokens: z.number().int().min(1).max(10_000_000).optional(),
  })
  .strict()
  .refine((v) => v.minutes !== undefined || v.tokens !== undefined, {
    message: 'give minutes, tokens or both',
  });
export type ExtendInterviewInput = z.output<typeof extendInterviewSchema>;

export const listInterviewsQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(50),
    cursor: z.string().max(2000).optional(),
  })
  .strict();

/** Checks the scheduled start against now; returns an error message or null. */
export function checkStartTime(scheduledAt: number, now: number): string | null {
  if (scheduledAt < now - 5 * 60_000) return 'must not be more than 5 minutes in the past';
  if (scheduledAt > now + MAX_AHEAD_MS) return 'must be within a year';
  return null;
}
