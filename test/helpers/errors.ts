import { expect } from 'vitest';
import { AppError } from '../../src/errors.js';

/** The AppError that `fn` throws (the test fails when it throws nothing or something else). */
export function thrown(fn: () => unknown): AppError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return e as AppError;
  }
  throw new Error('expected an error');
}
