import { afterAll } from 'vitest';
import { releaseTestGpu } from './util.ts';

// Destroy the worker's device before the worker exits: Dawn aborts when its threads are torn down
// with a live device.
afterAll(async () => {
  await releaseTestGpu();
});
