/**
 * `pnpm bench`: kernel and model benchmarks on the `webgpu` package (Dawn) in Node.
 *   pnpm bench [--quick] [--json [<out.json>]] [--scale N] [--models E2B,E4B] [--formats q4,q8]
 *              [--kernel-dtypes q4,q8] [--prompt-tokens N] [--decode-tokens N] [--peak-gbps X]
 *              [--ple gpu|host] [--no-kernels] [--no-models] [--no-ort] [--no-audio] [--audio-frames N] [--audio-scale N] [--breakdown]
 *              [--audio-full] [--vision [--vision-scale N] [--vision-size N] [--no-ttft]]
 *              [--vision-kernels [--vision-kernel-scale N]] [--kernels <name prefix,...>]
 * Defaults: full size, E2B and E4B at q4 and q8 on a hardware adapter, every width / 8 on a software
 * adapter; --quick: E2B at q4 only, q4 kernels only, and every width / 16 on a software adapter
 * (a few minutes on SwiftShader). Every q4 linear case and global decode attention case also runs
 * in onnxruntime-web's WebGPU provider on the same device (`ort_ms`, `ratio`) unless --no-ort.
 * The audio encoder runs one clip of --audio-frames log-mel frames (default 2997, 30 s) at the same scale;
 * the audio front end computes the log-mel features of 30 s of audio and resamples 30 s from 48 and 44.1 kHz.
 * --audio-full: the audio encoder at the published sizes (scale 1) on 30 s, whatever the run's scale.
 * --vision (opt-in, slow on a software adapter): one image through the vision tower at the published widths
 * (or / --vision-scale) and 768 x 768 (or --vision-size), and the time to first token of a one-image prompt.
 * --vision-kernels (opt-in): the tower's conv and MQA shapes as kernel cases (kernels-vision.ts), side by
 * side with onnxruntime-web's Conv and MatMul + Softmax + MatMul; channel widths / --vision-kernel-scale
 * (default 16 on a software adapter, 1 otherwise). --kernels: only the kernel cases whose name starts so.
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { requestNodeGpu } from '@g3n/gpu/node';
import { kernelCases, runKernelBench, type KernelResult } from './kernels.ts';
import { visionKernelCases } from './kernels-vision.ts';
import { runModelBench, type ModelResult } from './model.ts';
import { memoryTable } from './ple.ts';
import { runAudioBench } from './audio.ts';
import { runAudioFeaturesBench } from './audio-features.ts';
import { runVisionBench } from './vision.ts';
import { adapterReport, formatReport, kernelTable, type BenchReport } from './report.ts';
import { BENCH_FORMATS, type BenchFormat } from './synthetic.ts';
import { parseBenchArgs } from './args.ts';
import { loadOrtNode } from './ort-node.ts';
import { describeOrtRun, ortSideBySide } from './ort-run.ts';
import { timingMethod } from './timing.ts';

function formats(v: string): BenchFormat[] {
  const list = v.split(',').map((s) => s.trim());
  for (const f of list) if (!(BENCH_FORMATS as readonly string[]).includes(f)) throw new Error(`unknown format '${f}' (expected ${BENCH_FORMATS.join(', ')})`);
  return list as BenchFormat[];
}

function positive(v: string | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!(n > 0)) throw new Error(`--${name} must be a positive number, got '${v}'`);
  return n;
}

async function main(argv: string[]): Promise<void> {
  const args = parseBenchArgs(argv);
  const quick = args.has('quick');
  const gpu = await requestNodeGpu({ profile: true });
  const software = gpu.caps.isSoftware;
  // Full size on a hardware adapter; on a software adapter every width / 8 (/ 16 with --quick).
  const scale = positive(args.get('scale'), software ? (quick ? 16 : 8) : 1, 'scale');
  const modelFormats = formats(args.get('formats') ?? (quick ? 'q4' : 'q4,q8'));
  const kernelDtypes = formats(args.get('kernel-dtypes') ?? (quick ? 'q4' : 'q4,q8'));
  const models = (args.get('models') ?? (quick ? 'E2B' : 'E2B,E4B')).split(',').map((s) => s.trim());
  const promptTokens = positive(args.get('prompt-tokens'), software ? 4 : 128, 'prompt-tokens');
  const decodeTokens = positive(args.get('decode-tokens'), software ? 4 : quick ? 16 : 64, 'decode-tokens');
  const ple = args.get('ple') ?? 'gpu';
  if (ple !== 'gpu' && ple !== 'host') throw new Error(`--ple must be gpu or host, got '${ple}'`);
  const peak = args.has('peak-gbps') ? positive(args.get('peak-gbps'), 0, 'peak-gbps') : null;
  const log = (s: string) => process.stderr.write(`${s}\n`);

  const report: BenchReport = {
    version: 1,
    date: new Date().toISOString(),
    machine: { platform: process.platform, arch: process.arch, cpu: cpus()[0]?.model ?? '', cpus: cpus().length, memory_bytes: totalmem(), node: process.version },
    adapter: adapterReport(gpu),
    options: { quick, scale, models, formats: modelFormats, kernel_dtypes: kernelDtypes, prompt_tokens: promptTokens, decode_tokens: decodeTokens, peak_gbps: peak, ple },
    timing: timingMethod(gpu),
    reference_gbps: peak,
    kernels: [],
    decode: null,
    prefill: null,
    models: [],
    ort: { measured: false, note: 'not run (--no-ort or --no-kernels)' },
    memory: memoryTable(),
  };
  log(`adapter: ${report.adapter.description} (${report.adapter.vendor})${software ? ' [software]' : ''}; timing: ${report.timing}; scale 1/${scale}`);

  if (!args.has('no-kernels')) {
    const visionScale = positive(args.get('vision-kernel-scale'), software ? 16 : 1, 'vision-kernel-scale');
    const only = args.get('kernels')?.split(',').map((n) => n.trim());
    const cases = [
      ...kernelCases(scale, kernelDtypes, Math.min(gpu.caps.limits.maxStorageBufferBindingSize, gpu.caps.limits.maxBufferSize)),
      ...(args.has('vision-kernels') ? visionKernelCases(visionScale) : []),
    ].filter((c) => !only || only.some((n) => c.name.startsWith(n)));
    const reps = software ? 2 : 20;
    const trials = quick || software ? 1 : 3;
    const withOrt = !args.has('no-ort');
    let ortError = '';
    const ort = withOrt ? await loadOrtNode(gpu).catch((e: Error) => ((ortError = e.message.split('\n')[0]), null)) : null;
    if (ortError) report.ort.note = `could not be loaded: ${ortError}`;
    // Three alternating measurements per runtime: on a shared software adapter one is too noisy.
    const sideBySide = ort ? ortSideBySide(ort, { reps: software ? 1 : reps, trials: 3 }) : undefined;
    const onResult = (k: KernelResult) => {
      const side = k.ort_ms === null ? '' : `; onnxruntime-web ${k.ort_ms.toFixed(3)} ms vs ${k.wall_ms?.toFixed(3)} ms, ratio ${k.ratio?.toFixed(2)}, max rel diff ${k.ort_max_rel_diff?.toExponential(1)}`;
      log(`  ${k.name} [${k.shape.join('x')}]: ${k.ms.toFixed(3)} ms, ${k.gbps.toFixed(2)} GB/s${side}`);
    };
    report.kernels = await runKernelBench(gpu, cases, { workingSet: software ? 0 : 256 << 20, reps, trials, sideBySide, onResult });
    if (ort) report.ort = { measured: report.kernels.some((k) => k.ort_ms !== null), note: describeOrtRun(ort.env.versions.web ?? '?', software) };
    report.reference_gbps ??= report.kernels.find((k) => k.name.startsWith('copy'))?.gbps ?? null;
    log(kernelTable(report.kernels, report.reference_gbps));
  }
  if (!args.has('no-models')) {
    for (const format of modelFormats) {
      for (const model of models) {
        log(`model ${model} ${format} 1/${scale}: loading`);
        const m: ModelResult = await runModelBench(gpu, { model, format, scale, promptTokens, decodeTokens, breakdown: args.has('breakdown'), ple });
        report.models.push(m);
        log(`  ${m.decode.tokens_per_s.toFixed(2)} tok/s decode, TTFT ${m.prefill.ttft_ms.toFixed(1)} ms, weight bytes ${(m.decode.weight_bytes_ratio * 100).toFixed(2)}% of the minimum, GPU ${(m.gpu_bytes / 1e6).toFixed(1)} MB (PLE on the ${m.ple})`);
      }
    }
    report.decode = report.models[0]?.decode ?? null;
    report.prefill = report.models[0]?.prefill ?? null;
  }
  if (!args.has('no-audio')) {
    const full = args.has('audio-full');
    const frames = full ? 2997 : positive(args.get('audio-frames'), 2997, 'audio-frames');
    const audioScale = full ? 1 : positive(args.get('audio-scale'), scale, 'audio-scale');
    log(`audio encoder 1/${audioScale}: ${frames} frames`);
    const a = await runAudioBench(gpu, { scale: audioScale, frames: Math.round(frames) });
    report.audio_encoder = a;
    log(`  ${a.ms.toFixed(1)} ms, ${a.gflops_per_s.toFixed(1)} GFLOP/s, weights ${(a.weight_bytes / 2 ** 20).toFixed(1)} MiB`);
  }
  if (!args.has('no-audio')) {
    log('audio features: 30 s clip');
    const f = await runAudioFeaturesBench(gpu, { seconds: 30 });
    report.audio_features = f;
    log(`  ${f.ms.toFixed(1)} ms; resampling 48 kHz ${f.resample_48k_ms.toFixed(1)} ms, 44.1 kHz ${f.resample_44k1_ms.toFixed(1)} ms`);
  }
  if (args.has('vision')) {
    const visionScale = positive(args.get('vision-scale'), 1, 'vision-scale');
    const size = Math.round(positive(args.get('vision-size'), 768, 'vision-size'));
    log(`vision encoder 1/${visionScale}: ${size} x ${size}`);
    const v = await runVisionBench(gpu, { scale: visionScale, size, ttft: !args.has('no-ttft') });
    report.vision_encoder = v;
    log(`  ${v.ms.toFixed(1)} ms, ${v.gflops_per_s.toFixed(1)} GFLOP/s, weights ${(v.weight_bytes / 2 ** 20).toFixed(1)} MiB${v.ttft ? `, TTFT ${v.ttft.ttft_ms.toFixed(1)} ms` : ''}`);
  }
  const json = args.get('json');
  // With the JSON on stdout, the table goes to stderr with the progress lines.
  if (json === '-') {
    console.error(formatReport(report));
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    console.log(formatReport(report));
    if (json) writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  }
  await gpu.device.queue.onSubmittedWorkDone();
  gpu.destroy();
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    const err = e as Error & { code?: string };
    console.error(`g3n bench: ${err.code ? `${err.code}: ` : ''}${err.message}`);
    process.exit(1);
  },
);
