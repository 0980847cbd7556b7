import { describe, expect, it } from 'vitest';
import { LoadTracker } from '../src/progress.ts';
import type { LoadProgress } from '../src/types.ts';

/** A tracker on a clock the test moves. */
function tracker() {
  const events: LoadProgress[] = [];
  const clock = { ms: 0 };
  return { events, clock, t: new LoadTracker((p) => events.push(p), () => clock.ms) };
}

const brief = (p: LoadProgress) => [p.phase, p.loadedBytes, p.totalBytes, p.bytesPerSecond, p.etaSeconds, p.fromCache];

describe('LoadTracker', () => {
  it('turns reported reads into download / cache events, each followed by the upload of what came before', () => {
    const { events, clock, t } = tracker();
    t.step('config', 0, 1);
    t.onRead(500, false);
    t.weightsStart(1000);
    clock.ms = 1000;
    t.onRead(400, false);
    clock.ms = 2000;
    t.onRead(100, true);
    clock.ms = 4000;
    t.onRead(500, false);
    t.weightsDone();
    t.step('ready', 1, 1);
    expect(events.map(brief)).toEqual([
      ['config', 0, 0, 0, null, false],
      ['download', 400, 1000, 400, 1.5, false],
      ['upload', 400, 1000, 200, 3, false],
      ['cache', 500, 1000, 50, 10, false],
      ['upload', 500, 1000, 125, 4, false],
      ['download', 1000, 1000, 225, 0, false],
      ['upload', 1000, 1000, 250, 0, false],
      ['ready', 1000, 1000, 0, null, false],
    ]);
    expect(events.map((e) => [e.loaded, e.total])).toEqual([
      [0, 1],
      [400, 1000],
      [400, 1000],
      [500, 1000],
      [500, 1000],
      [1000, 1000],
      [1000, 1000],
      [1, 1],
    ]);
  });

  it('says fromCache while every weight byte came from the cache, and corrects a total that missed what was read', () => {
    const { events, clock, t } = tracker();
    t.weightsStart(300);
    clock.ms = 500;
    t.onRead(200, true);
    t.onRead(200, true);
    t.weightsDone();
    t.step('compile', 0, 3);
    expect(events.map(brief)).toEqual([
      ['cache', 200, 300, 400, 0.25, true],
      ['upload', 200, 300, 400, 0.25, true],
      ['cache', 300, 300, 800, 0, true],
      ['upload', 400, 400, 800, 0, true],
      ['compile', 400, 400, 0, null, true],
    ]);
  });

  it('weights fetched ahead: their reads are download / cache events only, then the loader\'s reads from the cache move the upload alone', () => {
    const { events, clock, t } = tracker();
    t.weightsAhead(1000);
    clock.ms = 1000;
    t.fetchedAhead(600, false);
    // The source's own report of those reads counts once, not twice.
    t.onRead(600, false);
    clock.ms = 2000;
    t.fetchedAhead(400, true);
    t.weightsLocal();
    clock.ms = 3000;
    t.onRead(600, true);
    clock.ms = 4000;
    t.onRead(400, true);
    t.weightsDone();
    t.step('compile', 0, 3);
    expect(events.map(brief)).toEqual([
      ['download', 600, 1000, 600, 400 / 600, false],
      ['cache', 1000, 1000, 200, 0, false],
      ['upload', 600, 1000, 300, 400 / 300, false],
      ['upload', 1000, 1000, 500, 0, false],
      ['compile', 1000, 1000, 0, null, false],
    ]);
  });
});
