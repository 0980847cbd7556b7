import { test } from '@playwright/test';

/**
 * Whether a spec should skip because its fixture is missing: outside CI it skips (a checkout without
 * ../shared/fixtures), in CI (CI set, not 'false' or '0') a missing fixture throws, so the run fails
 * instead of passing with nothing tested.
 */
export function skipForMissingFixture(present: boolean, reason: string, env: Record<string, string | undefined> = process.env): boolean {
  if (present) return false;
  if (env.CI && env.CI !== 'false' && env.CI !== '0') throw new Error(`${reason}. CI runs every spec: a missing fixture is a failure (put the fixtures in ../shared/fixtures next to the repository).`);
  return true;
}

/** test.skip for a missing fixture (in a test body or at file level), a failure in CI. */
export function requireFixture(present: boolean, reason: string): void {
  if (skipForMissingFixture(present, reason)) test.skip(true, reason);
}
