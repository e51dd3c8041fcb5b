// Minimal editor typings for the parts of Node's built-in test runner and
// assert module used by this exercise, so the IDE type-checks without
// installing @types/node (no network is needed). Node ignores this file.

declare module 'node:test' {
  type Fn = () => void | Promise<void>;
  export function describe(name: string, fn: Fn): void;
  export function it(name: string, fn: Fn): void;
  export function test(name: string, fn: Fn): void;
  export function before(fn: Fn): void;
  export function after(fn: Fn): void;
  export function beforeEach(fn: Fn): void;
  export function afterEach(fn: Fn): void;
}

declare module 'node:assert/strict' {
  type ErrorClass = new (...args: any[]) => Error;
  interface Assert {
    (value: unknown, message?: string): asserts value;
    ok(value: unknown, message?: string): asserts value;
    equal<T>(actual: unknown, expected: T, message?: string): asserts actual is T;
    notEqual(actual: unknown, expected: unknown, message?: string): void;
    deepEqual<T>(actual: unknown, expected: T, message?: string): asserts actual is T;
    notDeepEqual(actual: unknown, expected: unknown, message?: string): void;
    throws(fn: () => unknown, expected?: ErrorClass | RegExp | object, message?: string): void;
    doesNotThrow(fn: () => unknown, message?: string): void;
    match(value: string, regExp: RegExp, message?: string): void;
    fail(message?: string): never;
  }
  const assert: Assert;
  export default assert;
}
