import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { StreamingDetokenizer, Tokenizer, encodeChat } from '../src/index.ts';
import { buildCorpus } from './corpus.ts';
import { firstMismatches, loadGemma3, type Gemma3 } from './gemma3.ts';

const corpus = buildCorpus();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Streams ids through a fresh detokenizer; returns the chunks (the flush last). */
function stream(tokenizer: Tokenizer, ids: number[], skipSpecial = false): string[] {
  const d = new StreamingDetokenizer(tokenizer, { skipSpecial });
  const chunks = ids.map((id) => d.push(id));
  chunks.push(d.flush());
  return chunks;
}

/** Checks: chunks join to decode(ids); no chunk holds a U+FFFD that decode does not have. */
function check(tokenizer: Tokenizer, texts: string[], skipSpecial = false) {
  return texts.map((text) => {
    const ids = tokenizer.encode(text, { addBos: true });
    const want = tokenizer.decode(ids, { skipSpecial });
    const chunks = stream(tokenizer, ids, skipSpecial);
    const fffd = chunks.join('').split('\uFFFD').length - 1;
    const broken = chunks.some((c) => LONE_SURROGATE.test(c)) || fffd !== want.split('\uFFFD').length - 1;
    return { text, got: broken ? ['broken chunks', ...chunks] : chunks.join(''), want };
  });
}

let g: Gemma3;
beforeAll(() => {
  g = loadGemma3();
});

describe('StreamingDetokenizer on the real Gemma 3 vocabulary', () => {
  it(`concatenated pushes equal decode() for all ${corpus.length} corpus strings`, () => {
    expect(firstMismatches('stream', check(g.ours, corpus.map((e) => e.text)))).toEqual([]);
  });

  it('skipSpecial streams equal decode(ids, { skipSpecial: true }) on chat-formatted ids', () => {
    const texts = corpus.map((e) => e.text).filter((t) => t.length < 500);
    const items = texts.map((text) => {
      const ids = encodeChat(g.ours, [{ role: 'user', content: text }, { role: 'assistant', content: text }], { addGenerationPrompt: false, imageTokens: 2 });
      return { text, got: stream(g.ours, ids, true).join(''), want: g.ours.decode(ids, { skipSpecial: true }) };
    });
    expect(firstMismatches('stream skipSpecial', items)).toEqual([]);
  });

  it('holds back a character split across byte-fallback tokens until it is complete', () => {
    const ids = g.ours.encode('𓀀');
    expect(ids.map((id) => g.ours.idToToken(id))).toEqual(['<0xF0>', '<0x93>', '<0x80>', '<0x80>']);
    const d = new StreamingDetokenizer(g.ours);
    expect([...g.ours.encode('ok '), ...ids, ...g.ours.encode('!')].map((id) => d.push(id))).toEqual(['ok', ' ', '', '', '', '𓀀', '!']);
    expect(d.flush()).toBe('');
  });

  it('an invalid byte is released as U+FFFD once the next token shows it cannot complete, as decode does', () => {
    const e4 = g.ours.tokenToId('<0xE4>')!;
    const a = g.ours.tokenToId('A')!;
    const d = new StreamingDetokenizer(g.ours);
    expect([d.push(e4), d.push(a)]).toEqual(['', '\uFFFDA']);
    expect(g.ours.decode([e4, a])).toBe('\uFFFDA');
  });

  it('flush releases an incomplete character as decode shows it, then starts over', () => {
    const d = new StreamingDetokenizer(g.ours);
    const [f0, x93] = g.ours.encode('𓀀');
    expect([d.push(f0), d.push(x93)]).toEqual(['', '']);
    expect(d.flush()).toBe(g.ours.decode([f0, x93]));
    expect(d.push(g.ours.tokenToId('Hi')!)).toBe('Hi');
    d.reset();
    expect(d.flush()).toBe('');
  });
});

describe('StreamingDetokenizer on the tiny fixture vocabulary (every non-ASCII character is byte tokens)', () => {
  it('concatenated pushes equal decode() for all corpus strings', () => {
    const tiny = Tokenizer.fromJSON(readFileSync(new URL('./fixtures/tiny-tokenizer.json', import.meta.url), 'utf8'));
    expect(firstMismatches('tiny stream', check(tiny, corpus.map((e) => e.text)))).toEqual([]);
  });
});
