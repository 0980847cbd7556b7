import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../src/args.ts';
import { formatReport, table, type BenchReport } from '../src/report.ts';
import type { DecodeResult } from '../src/model.ts';

const decode: DecodeResult = {
  tokens: 4,
  tokens_per_s: 2.5,
  ms_per_token: 400,
  dispatches_per_token: 1269,
  submits_per_token: 1,
  readback_bytes_per_token: 4,
  allocations_per_token: 0,
  buffers_per_token: 0,
  bind_groups_per_token: 0,
  pipelines_per_token: 0,
  weight_bytes_per_token: 1.01e6,
  weight_bytes_min: 1e6,
  weight_bytes_ratio: 1.01,
  weight_bytes_dense: 1.05e6,
  weight_bytes_sparse_saving: 0.04e6,
  sparse_ffn: [{ layer: 0, rows: 512, active_rows: 26, blocks: 16, active_blocks: 13 }],
  weight_gbps: 0.0025,
};

const report: BenchReport = {
  version: 1,
  date: '2026-11-27T00:00:00.000Z',
  machine: { platform: 'linux' },
  adapter: { vendor: 'google', architecture: 'swiftshader', device: '', description: 'SwiftShader', is_software: true, features: ['subgroups'], limits: { maxBufferSize: 1 } },
  options: {},
  timing: 'wall-clock',
  reference_gbps: 0.1,
  kernels: [{ name: 'q_proj q4', model: 'E2B/E4B', dtype: 'q4', shape: [128, 128], ms: 2, gbps: 0.005, gflops: 0.016, bytes: 1e4, flops: 32768, ort_ms: 4, wall_ms: 2, ratio: 2, ort_max_rel_diff: 1.5e-7 }],
  decode,
  prefill: { tokens: 4, tokens_per_s: 1, ttft_ms: 4000, ttft_full_prefill_ms: 5000, prefill_rows: 120, prefill_rows_run: 90 },
  models: [{ model: 'E2B', format: 'q4', scale: 16, layers: 30, hidden_size: 128, intermediate_size: [512], weight_bytes_resident: 1, ple: 'host', gpu_bytes: 2e6, host_ple_bytes_per_token: 270, load_ms: 1, prefill: { tokens: 4, tokens_per_s: 1, ttft_ms: 4000, ttft_full_prefill_ms: 5000, prefill_rows: 120, prefill_rows_run: 90 }, decode }],
  ort: { measured: false, note: 'not measured' },
};

describe('bench report', () => {
  it('keeps the JSON contract: adapter, kernels (ort_ms, ratio), decode counters', () => {
    const json = JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(expect.arrayContaining(['adapter', 'kernels', 'decode', 'prefill']));
    expect(Object.keys(report.kernels[0])).toEqual(expect.arrayContaining(['name', 'shape', 'ms', 'gbps', 'ort_ms', 'wall_ms', 'ratio', 'ort_max_rel_diff']));
    for (const k of ['tokens_per_s', 'dispatches_per_token', 'submits_per_token', 'readback_bytes_per_token', 'allocations_per_token', 'weight_bytes_per_token', 'weight_bytes_min']) {
      expect(typeof (json.decode as Record<string, unknown>)[k]).toBe('number');
    }
  });

  it('prints the adapter, a kernel table and a model table', () => {
    const text = formatReport(report);
    expect(text).toContain('SwiftShader');
    expect(text).toMatch(/q_proj q4 +E2B\/E4B +128x128 +2\.000/);
    expect(text).toMatch(/ 2\.000 +4\.000 +2\.00 +1\.5e-7\n/);
    expect(text).toMatch(/E2B +q4 +1\/16/);
    expect(text).toContain('1.0100');
  });

  it('aligns columns', () => {
    const t = table(['a', 'b', 'n'], [['x', 'yy', '1.5'], ['xxx', 'y', '10.25']]).split('\n');
    expect(t.map((l) => l.length)).toEqual([t[0].length, t[0].length, t[0].length, t[0].length]);
  });

  it('parses flags and options, and rejects unknown ones', () => {
    const a = parseBenchArgs(['--quick', '--json', 'out.json', '--scale', '8']);
    expect([...a]).toEqual([['quick', 'true'], ['json', 'out.json'], ['scale', '8']]);
    expect(() => parseBenchArgs(['--fast'])).toThrow(/unknown/);
    expect([...parseBenchArgs(['--no-ort'])]).toEqual([['no-ort', 'true']]);
    expect(() => parseBenchArgs(['--scale'])).toThrow(/needs a value/);
    // --json without a path writes the JSON to stdout.
    expect([...parseBenchArgs(['--quick', '--json'])]).toEqual([['quick', 'true'], ['json', '-']]);
    expect([...parseBenchArgs(['--json', '--quick'])]).toEqual([['json', '-'], ['quick', 'true']]);
  });
});
