/**
 * Command-line flags of `pnpm bench`: booleans and `--name value` options; anything else is an error.
 * `--json` without a path is `--json -`: the report as JSON on stdout.
 */
const FLAGS = new Set(['quick', 'no-kernels', 'no-models', 'no-ort', 'no-audio', 'breakdown', 'vision', 'no-ttft', 'audio-full', 'vision-kernels']);
const OPTIONS = new Set(['json', 'scale', 'models', 'formats', 'kernel-dtypes', 'prompt-tokens', 'decode-tokens', 'peak-gbps', 'audio-frames', 'audio-scale', 'vision-scale', 'vision-size', 'ple', 'vision-kernel-scale', 'kernels']);

export function parseBenchArgs(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || !(FLAGS.has(name) || OPTIONS.has(name))) throw new Error(`unknown argument '${argv[i]}'`);
    if (FLAGS.has(name)) out.set(name, 'true');
    else if (name === 'json' && (argv[i + 1] === undefined || argv[i + 1].startsWith('--'))) out.set(name, '-');
    else {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
      out.set(name, v);
    }
  }
  return out;
}
