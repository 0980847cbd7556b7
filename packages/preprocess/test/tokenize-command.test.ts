import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { tokenizeCommand } from '../../cli/src/commands/tokenize.ts';
import { Tokenizer } from '../src/index.ts';

// `g3n tokenize` lives in packages/cli; its test lives here, beside the tokenizer it drives.
const TINY = new URL('./fixtures/tiny-tokenizer.json', import.meta.url).pathname;
const LINES = ['Hello, world!', '', 'two\nlines\tand a tab', '<start_of_turn>user', 'héllo 👋'];

let dir: string;
const path = (name: string) => join(dir, name);
const write = (name: string, text: string) => {
  writeFileSync(path(name), text);
  return path(name);
};

const writeBytes = (name: string, bytes: number[]) => {
  writeFileSync(path(name), Uint8Array.from(bytes));
  return path(name);
};
/** The tiny tokenizer.json with one vocabulary key's byte made invalid UTF-8. */
const badVocab = () => {
  const bytes = readFileSync(TINY);
  const at = bytes.indexOf(Buffer.from('"ction":')) + 1;
  if (at === 0) throw new Error('the fixture has no "ction" token');
  bytes[at] = 0xff;
  writeFileSync(path('bad-vocab.json'), bytes);
  return path('bad-vocab.json');
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'g3n-tokenize-'));
  vi.spyOn(console, 'log').mockImplementation(() => {});
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  vi.restoreAllMocks();
});

describe('g3n tokenize', () => {
  it('writes {"ids": [...]}: one list per input line, no BOS', async () => {
    const input = write('in.jsonl', LINES.map((l) => JSON.stringify(l)).join('\n') + '\n');
    await tokenizeCommand(['--tokenizer', TINY, '--input', input, '--json', path('out.json')]);
    const tiny = Tokenizer.fromJSON(readFileSync(TINY, 'utf8'));
    const out = JSON.parse(readFileSync(path('out.json'), 'utf8'));
    expect(out).toEqual({ ids: LINES.map((l) => tiny.encode(l)) });
    expect(out.ids[1]).toEqual([]);
    expect(out.ids[3][0]).toBe(105);
  });

  it('accepts CRLF line ends and a file without a final newline', async () => {
    const input = write('crlf.jsonl', '"a"\r\n"b"');
    await tokenizeCommand(['--tokenizer', TINY, '--input', input, '--json', path('crlf.json')]);
    expect(JSON.parse(readFileSync(path('crlf.json'), 'utf8')).ids).toHaveLength(2);
  });

  it.each([
    ['no arguments', () => [], /missing --tokenizer; usage: g3n tokenize/],
    ['a missing flag', () => ['--tokenizer', TINY, '--input', path('in.jsonl')], /missing --json/],
    ['an unknown flag', () => ['--tokenizer', TINY, '--bogus', 'x'], /unknown option '--bogus'.*usage: g3n tokenize/],
    ['a positional argument', () => ['extra'], /unexpected argument 'extra'; usage: g3n tokenize/],
    ['a flag given twice', () => ['--json', 'a', '--json', 'b'], /given twice/],
    ['a missing input file', () => ['--tokenizer', TINY, '--input', path('nope.jsonl'), '--json', path('o.json')], /cannot read input .*nope\.jsonl: ENOENT/],
    ['a missing tokenizer file', () => ['--tokenizer', path('nope.json'), '--input', path('in.jsonl'), '--json', path('o.json')], /cannot read tokenizer .*: ENOENT/],
    ['a tokenizer that is not JSON', () => ['--tokenizer', write('bad.json', '{'), '--input', path('in.jsonl'), '--json', path('o.json')], /bad\.json: tokenizer.json is not valid JSON/],
    ['a line that is not JSON', () => ['--tokenizer', TINY, '--input', write('b1.jsonl', '"ok"\nnot json\n'), '--json', path('o.json')], /b1\.jsonl:2: not a JSON string/],
    ['a line that is not a string', () => ['--tokenizer', TINY, '--input', write('b2.jsonl', '"ok"\n\n'), '--json', path('o.json')], /b2\.jsonl:2: not a JSON string/],
    ['a JSON number line', () => ['--tokenizer', TINY, '--input', write('b3.jsonl', '42\n'), '--json', path('o.json')], /b3\.jsonl:1: expected a JSON string, got number/],
    ['an unwritable output', () => ['--tokenizer', TINY, '--input', path('in.jsonl'), '--json', join(dir, 'no-dir', 'o.json')], /--json .*o\.json: the folder .*no-dir does not exist/],
    ['input that is not UTF-8', () => ['--tokenizer', TINY, '--input', writeBytes('b4.jsonl', [0x22, 0x61, 0x22, 0x0a, 0x22, 0x62, 0xff, 0x22, 0x0a]), '--json', path('o.json')], /b4\.jsonl is not valid UTF-8: byte offset 6 \(line 2\)/],
    ['a line with a lone surrogate', () => ['--tokenizer', TINY, '--input', write('b5.jsonl', '"ok"\n"a\\ud800b"\n'), '--json', path('o.json')], /b5\.jsonl:2: The text is not valid Unicode: a lone surrogate \(U\+D800\) at index 1/],
    ['a tokenizer.json with an invalid byte in a vocabulary key', () => ['--tokenizer', badVocab(), '--input', path('in.jsonl'), '--json', path('o.json')], /tokenizer\.json is not valid UTF-8: byte offset \d+/],
  ])('fails with a one-line error on %s', async (_name, argv, message) => {
    const error = await tokenizeCommand(argv()).then(
      () => null,
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toMatch(message);
    if (/UTF-8|Unicode/.test(error!.message)) expect(error).toMatchObject({ code: 'BAD_INPUT' });
    expect(error!.message).not.toContain('\n');
  });
});
