/**
 * `g3n tokenize --tokenizer <tokenizer.json> --input <lines.jsonl> --json <out.json>`
 *
 * Tokenizes each line of the input file (one JSON string per line) without adding <bos> and writes
 * {"ids": [[...], ...]}, one list per line. A final newline does not start another line. Bad
 * arguments or files throw an Error whose message is the one line the dispatcher prints.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { decodeUtf8, Tokenizer, TokenizerError } from '@g3n/preprocess';
import { checkOutputPath, HelpRequested, parseArgs, required } from '../args.ts';

const USAGE = 'usage: g3n tokenize --tokenizer <tokenizer.json> --input <file: one JSON string per line> --json <out.json>';

function readBytes(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function parseLines(text: string, path: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((line, i) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`${path}:${i + 1}: not a JSON string (write each input as a JSON string literal, e.g. "Hello\\nworld")`);
    }
    if (typeof value !== 'string') throw new Error(`${path}:${i + 1}: expected a JSON string, got ${value === null ? 'null' : typeof value}`);
    return value;
  });
}

export async function tokenizeCommand(argv: string[]): Promise<void> {
  let tokenizerPath: string;
  let input: string;
  let json: string;
  try {
    const args = parseArgs(argv, ['tokenizer', 'input', 'json'], USAGE);
    [tokenizerPath, input, json] = [required(args, 'tokenizer'), required(args, 'input'), required(args, 'json')];
  } catch (e) {
    if (e instanceof HelpRequested) throw e;
    throw new Error(`${(e as Error).message}; ${USAGE}`);
  }
  checkOutputPath(json, 'json');
  let tokenizer: Tokenizer;
  try {
    tokenizer = Tokenizer.fromJSON(readBytes(tokenizerPath, 'tokenizer'));
  } catch (e) {
    if (e instanceof TokenizerError) throw new TokenizerError(`${tokenizerPath}: ${e.message}`, e.details);
    throw e;
  }
  const lines = parseLines(decodeUtf8(readBytes(input, 'input'), input), input);
  const ids = lines.map((line, i) => {
    try {
      return tokenizer.encode(line);
    } catch (e) {
      if (e instanceof TokenizerError) throw new TokenizerError(`${input}:${i + 1}: ${e.message}`, e.details);
      throw e;
    }
  });
  try {
    writeFileSync(json, JSON.stringify({ ids }) + '\n');
  } catch (e) {
    throw new Error(`cannot write ${json}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  console.log(`tokenized ${lines.length} line(s), ${ids.reduce((n, l) => n + l.length, 0)} tokens -> ${json}`);
}
