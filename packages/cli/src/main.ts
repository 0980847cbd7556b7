/**
 * g3n command line (Node, WebGPU through the `webgpu` package):
 *   g3n run --model <dir> --ids <ids> --max-new-tokens <N> --json <out.json> [--matformer <slice>]
 *   g3n tokenize --tokenizer <tokenizer.json> --input <lines.jsonl> --json <out.json>
 * Errors print one line and exit non-zero.
 */
import { errorLine, HelpRequested, quietGpuStart } from './args.ts';

const USAGE = `usage: g3n <command> [options]
  run       --model <dir> --ids <id,id,...> --max-new-tokens <N> --json <out.json> [--matformer <slice.json or name>]
  chat      --model <dir or URL> --prompt <text> [--image <png|jpg>]... [--audio <wav>]... [--system <text>] [--max-tokens <N>] [--json]
  tokenize  --tokenizer <tokenizer.json> --input <file> --json <out.json>
  convert   --in <checkpoint dir or URL> --out <dir> --quant q4|q8|f16|bf16|f32 [--model-id <id>] [--revision <r>] [--shard-mib <N>] [--roles <role=dtype,...>]
  encode-audio  --model <dir> --features <file>:<tensor> [--mask <file>:<tensor>] --out <out.safetensors>
  encode-image  --model <dir> --pixel-values <file>:<tensor> --out <out.safetensors>
  preprocess-image  (--rgba <file> --size <W>x<H> | --image <png|jpg>) --out <out.safetensors> [--target <N or W>x<H>] [--model <dir>]
  audio-features  (--wave <file.safetensors>:<tensor> | --audio <file.wav>)... --out <out.safetensors> [--config <preprocessor_config.json>]`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  await quietGpuStart();
  switch (command) {
    case 'run': {
      const { runCommand } = await import('./commands/run.ts');
      return runCommand(rest);
    }
    case 'chat': {
      const { chatCommand } = await import('./commands/chat.ts');
      return chatCommand(rest);
    }
    case 'tokenize': {
      const { tokenizeCommand } = await import('./commands/tokenize.ts');
      return tokenizeCommand(rest);
    }
    case 'convert': {
      const { convertCommand } = await import('./commands/convert.ts');
      return convertCommand(rest);
    }
    case 'encode-audio': {
      const { encodeAudioCommand } = await import('./commands/encode-audio.ts');
      return encodeAudioCommand(rest);
    }
    case 'encode-image': {
      const { encodeImageCommand } = await import('./commands/encode-image.ts');
      return encodeImageCommand(rest);
    }
    case 'audio-features': {
      const { audioFeaturesCommand } = await import('./commands/audio-features.ts');
      return audioFeaturesCommand(rest);
    }
    case 'preprocess-image': {
      const { preprocessImageCommand } = await import('./commands/preprocess-image.ts');
      return preprocessImageCommand(rest);
    }
    case undefined:
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    default:
      throw new Error(`unknown command '${command}'\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    if (e instanceof HelpRequested) {
      console.log(e.usage);
      process.exit(0);
    }
    console.error(errorLine(e));
    process.exit(1);
  },
);
