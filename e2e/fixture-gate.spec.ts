import { expect, test } from '@playwright/test';
import { skipForMissingFixture } from './fixture-gate.ts';

test('a missing fixture skips outside CI and fails in CI', () => {
  expect(skipForMissingFixture(true, 'x', { CI: 'true' })).toBe(false);
  expect(skipForMissingFixture(true, 'x', {})).toBe(false);
  expect(skipForMissingFixture(false, 'no fixture at /f', {})).toBe(true);
  expect(skipForMissingFixture(false, 'no fixture at /f', { CI: 'false' })).toBe(true);
  expect(() => skipForMissingFixture(false, 'no fixture at /f', { CI: 'true' })).toThrow(/no fixture at \/f\. CI runs every spec/);
  expect(() => skipForMissingFixture(false, 'no fixture at /f', { CI: '1' })).toThrow(/missing fixture is a failure/);
});
