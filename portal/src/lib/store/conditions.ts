/**
 * True when a DynamoDB conditional write was refused. Checked by name, not `instanceof`: Next
 * bundles route handlers with their own copy of the SDK, so one process can hold two classes.
 */
export function isConditionFailure(e: unknown): boolean {
  return (e as { name?: string } | null)?.name === 'ConditionalCheckFailedException';
}
