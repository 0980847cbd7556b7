/**
 * `g3n chat --model <dir|url> --prompt "<text>" [--image <file>]... [--audio <file>]... [--system <text>]
 *   [--max-tokens N] [--temperature T] [--seed N] [--tokenizer <tokenizer.json>] [--json]`
 *
 * One chat turn through the engine API, as an app would run it: the chat template, the tokenizer,
 * images (PNG/JPEG) and audio (WAV) as content parts encoded by the model's towers, sampling on the
 * GPU. The answer streams to stdout; usage follows on stderr. With --json, one JSON object with the
 * answer, its token ids, the finish reason and usage is printed instead.
 */
import { readFileSync } from 'node:fs';
import { parseArgs as parseNodeArgs } from 'node:util';
import { InThreadEngine, type ChatCompletionChunk, type ContentPart, type ChatMessage } from '@g3n/engine';
import { requestNodeGpu } from '@g3n/gpu/node';
import { parseWav } from '@g3n/preprocess';
import { nodeFileSource } from '@g3n/weights/node';
import { HelpRequested } from '../args.ts';
import { decodeImageFile } from './preprocess-image.ts';

const USAGE = `usage: g3n chat --model <dir or URL> --prompt <text> [--image <png|jpg>]... [--audio <wav>]...
                [--system <text>] [--max-tokens <N>] [--temperature <T>] [--seed <N>] [--tokenizer <tokenizer.json>] [--json]
  Answers one user turn with the model's chat format; images and audio clips are attached in the order given.`;

function readFile(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function number(text: string | undefined, option: string, ok: (x: number) => boolean, what: string): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || !ok(v)) throw new Error(`--${option} must be ${what}, got '${text}'`);
  return v;
}

function parse(argv: string[]) {
  if (argv.includes('--help') || argv.includes('-h')) throw new HelpRequested(USAGE);
  let values;
  try {
    ({ values } = parseNodeArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: 'string' },
        prompt: { type: 'string' },
        image: { type: 'string', multiple: true },
        audio: { type: 'string', multiple: true },
        system: { type: 'string' },
        'max-tokens': { type: 'string' },
        temperature: { type: 'string' },
        seed: { type: 'string' },
        tokenizer: { type: 'string' },
        json: { type: 'boolean' },
      },
    }));
  } catch (e) {
    throw new Error(`${(e as Error).message.split('\n')[0]} (see g3n chat --help)`);
  }
  if (!values.model) throw new Error('missing --model');
  if (values.prompt === undefined) throw new Error('missing --prompt');
  return {
    model: values.model,
    prompt: values.prompt,
    images: values.image ?? [],
    audio: values.audio ?? [],
    system: values.system,
    maxTokens: number(values['max-tokens'], 'max-tokens', (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1') ?? 256,
    temperature: number(values.temperature, 'temperature', (x) => x >= 0, 'a number >= 0'),
    seed: number(values.seed, 'seed', Number.isSafeInteger, 'an integer'),
    tokenizer: values.tokenizer,
    json: values.json ?? false,
  };
}

/** The user turn's parts: images, then audio clips, then the text. */
function userContent(args: ReturnType<typeof parse>): ContentPart[] {
  const parts: ContentPart[] = [];
  for (const path of args.images) {
    const raw = decodeImageFile(readFile(path, 'image'), path);
    const data = new Uint8ClampedArray(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength);
    parts.push({ type: 'image', image: { data, width: raw.width, height: raw.height } as unknown as ImageData });
  }
  for (const path of args.audio) {
    const wav = parseWav(readFile(path, 'audio'));
    parts.push({ type: 'audio', audio: wav.samples, sampleRate: wav.sampleRate });
  }
  parts.push({ type: 'text', text: args.prompt });
  return parts;
}

export async function chatCommand(argv: string[]): Promise<void> {
  const args = parse(argv);
  const content = userContent(args);
  const isUrl = /^https?:\/\//.test(args.model);
  const tokenizer = args.tokenizer ? (JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(readFile(args.tokenizer, 'tokenizer'))) as object) : undefined;
  const engine = new InThreadEngine({ requestGpu: () => requestNodeGpu(), files: isUrl ? undefined : () => nodeFileSource(args.model) });
  try {
    await engine.load({ model: args.model, tokenizer, cache: false });
    const messages: ChatMessage[] = [];
    if (args.system !== undefined) messages.push({ role: 'system', content: args.system });
    messages.push({ role: 'user', content });
    const stream = await engine.chat.completions.create({
      messages,
      max_tokens: args.maxTokens,
      temperature: args.temperature,
      seed: args.seed,
      stream: true,
    });
    let answer = '';
    const tokenIds: number[] = [];
    let last: ChatCompletionChunk | undefined;
    for await (const chunk of stream) {
      const text = chunk.choices[0].delta.content ?? '';
      answer += text;
      tokenIds.push(...chunk.choices[0].token_ids);
      if (text && !args.json) process.stdout.write(text);
      last = chunk;
    }
    const usage = last?.usage;
    const finish = last?.choices[0].finish_reason ?? null;
    if (args.json) {
      console.log(JSON.stringify({ content: answer, token_ids: tokenIds, finish_reason: finish, usage, notes: last?.notes ?? [] }));
      return;
    }
    process.stdout.write('\n');
    for (const note of last?.notes ?? []) console.error(`note: ${note}`);
    if (usage) {
      const d = usage.prompt_tokens_details;
      console.error(
        `${usage.prompt_tokens} prompt tokens (${d.image_tokens} image, ${d.audio_tokens} audio), ${usage.completion_tokens} generated (${finish}); ` +
          `first token after ${usage.time_to_first_token_ms.toFixed(0)} ms, prefill ${usage.prefill_tokens_per_s.toFixed(1)} tok/s, decode ${usage.decode_tokens_per_s.toFixed(1)} tok/s`,
      );
    }
  } finally {
    await engine.unload();
  }
}
