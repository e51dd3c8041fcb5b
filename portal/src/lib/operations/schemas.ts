import { z } from 'zod';

/**
 * Operation ids as the engine makes them (`op_…`, and `destroy-<interviewId>` for an interview's
 * one destroy); anything else is a 400, not a lookup.
 */
export const operationIdSchema = z
  .string()
  .regex(/^(op_[A-Za-z0-9_-]{1,100}|destroy-iv_[A-Za-z0-9_-]{22})$/, 'not an operation id');
