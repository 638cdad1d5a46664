import assert from 'node:assert/strict';
import { DiskImageError, type ErrorCode } from '../../src/errors.js';

/**
 * Asserts that `action` (a promise, or a function returning a value or a
 * promise) fails with a DiskImageError whose code is `code` (or one of
 * `code` when given a list). Any other exception fails the test. Returns
 * the error so the caller can check its message and details.
 */
export async function rejectsWithCode(action: Promise<unknown> | (() => unknown), code: ErrorCode | ErrorCode[]): Promise<DiskImageError> {
  const codes = Array.isArray(code) ? code : [code];
  let outcome: unknown;
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (err) {
    outcome = err;
  }
  if (outcome === undefined) assert.fail(`expected a DiskImageError ${codes.join(' or ')}, but nothing was thrown`);
  if (!(outcome instanceof DiskImageError)) {
    assert.fail(`expected a DiskImageError ${codes.join(' or ')}, got ${outcome instanceof Error ? `${outcome.name}: ${outcome.message}` : String(outcome)}`);
  }
  assert.ok(codes.includes(outcome.code), `expected code ${codes.join(' or ')}, got ${outcome.code}: ${outcome.message}`);
  return outcome;
}

/** Synchronous form of `rejectsWithCode` for functions that throw. */
export function throwsWithCode(fn: () => unknown, code: ErrorCode): DiskImageError {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof DiskImageError)) assert.fail(`expected a DiskImageError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  return assert.fail(`expected a DiskImageError ${code}, but nothing was thrown`);
}
