import { describe, expect, it } from 'vitest';
import { samplingDefaults, samplingOptions } from '../src/sampling.ts';
import { StopMatcher } from '../src/stops.ts';

describe('stop strings', () => {
  const feed = (stops: string[], pieces: string[]) => {
    const m = new StopMatcher(stops);
    const shown: string[] = [];
    for (const p of pieces) {
      const r = m.push(p);
      shown.push(r.text);
      if (r.stopped) return { shown, stopped: true };
    }
    shown.push(m.flush());
    return { shown, stopped: false };
  };

  it('holds back a possible start of a stop string and cuts before it', () => {
    expect(feed(['END'], ['ab', 'cE', 'N', 'Dxyz'])).toEqual({ shown: ['ab', 'c', '', ''], stopped: true });
    expect(feed(['END'], ['ab', 'cE', 'N', 'x'])).toEqual({ shown: ['ab', 'c', '', 'ENx', ''], stopped: false });
    expect(feed(['END'], ['abEN'])).toEqual({ shown: ['ab', 'EN'], stopped: false });
  });

  it('stops at the earliest of several stop strings, including one inside a single piece', () => {
    expect(feed(['yz', 'b'], ['axyzb'])).toEqual({ shown: ['ax'], stopped: true });
    expect(feed(['\n\n', '###'], ['one\n', '\ntwo'])).toEqual({ shown: ['one', ''], stopped: true });
    expect(feed([], ['a', 'b'])).toEqual({ shown: ['a', 'b', ''], stopped: false });
    expect(feed([''], ['a'])).toEqual({ shown: ['a', ''], stopped: false });
  });
});

describe('sampling settings', () => {
  it('defaults come from generation_config.json, else greedy', () => {
    expect(samplingDefaults(null)).toEqual({ temperature: 0, top_k: 0, top_p: 1 });
    expect(samplingDefaults({ do_sample: false, temperature: 0.7 })).toEqual({ temperature: 0, top_k: 0, top_p: 1 });
    expect(samplingDefaults({ do_sample: true, temperature: 1.0, top_k: 64, top_p: 0.95 })).toEqual({ temperature: 1, top_k: 64, top_p: 0.95 });
    expect(samplingDefaults({})).toEqual({ temperature: 1, top_k: 50, top_p: 1 });
  });

  it('a given seed is used as a u32; without one each request gets a random seed', () => {
    expect(samplingOptions(1, 40, 0.9, 7)).toEqual({ temperature: 1, topK: 40, topP: 0.9, seed: 7 });
    expect(samplingOptions(1, 0, 1, -1).seed).toBe(0xffffffff);
    const seeds = new Set(Array.from({ length: 8 }, () => samplingOptions(1, 0, 1, undefined).seed));
    expect(seeds.size).toBeGreaterThan(1);
  });
});
