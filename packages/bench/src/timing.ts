/**
 * Time per call of a list of dispatches. With timestamp queries (a device requested with
 * `profile`) every dispatch runs in its own pass between two timestamps and a call's time is the
 * sum of its dispatches' GPU time; without them, many calls are recorded into one pass and one
 * submit, and the wall-clock time until the queue is idle is divided by their number.
 */
import { Plan, submitPlans, type Dispatch, type Gpu } from '@g3n/gpu';

export type TimingMethod = 'timestamp-query' | 'wall-clock';

export function timingMethod(gpu: Gpu): TimingMethod {
  return gpu.profiler ? 'timestamp-query' : 'wall-clock';
}

export interface TimeOptions {
  /** Calls per measurement: call i uses calls[i % calls.length] (rotating copies defeat the caches). */
  reps: number;
  /** Measurements; the median is returned. */
  trials: number;
}

/** Timestamp slots of the profiler: one per dispatch of a measurement. */
const PROFILER_SLOTS = 2048;

/** Milliseconds per call (median over trials) after one warm-up measurement. */
export async function timeCalls(gpu: Gpu, label: string, calls: Dispatch[][], options: TimeOptions): Promise<number> {
  const perCall = Math.max(...calls.map((c) => c.length));
  const reps = Math.max(1, Math.min(options.reps, Math.floor(PROFILER_SLOTS / perCall)));
  const dispatches: Dispatch[] = [];
  for (let i = 0; i < reps; i++) dispatches.push(...calls[i % calls.length]);
  const plan = await Plan.build(gpu, label, dispatches);
  const profiler = gpu.profiler;
  const times: number[] = [];
  try {
    for (let t = 0; t <= options.trials; t++) {
      profiler?.totals.clear();
      const t0 = performance.now();
      submitPlans(gpu, [plan]);
      await gpu.device.queue.onSubmittedWorkDone();
      const wall = performance.now() - t0;
      if (profiler) await profiler.collect();
      const ms = profiler ? [...profiler.totals.values()].reduce((s, v) => s + v.ns, 0) / 1e6 : wall;
      if (t > 0) times.push(ms / reps);
    }
  } finally {
    profiler?.totals.clear();
    plan.destroy();
  }
  return median(times);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
