import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tokenizer, encodeChat } from '../src/index.ts';
import { firstMismatches } from './gemma3.ts';
import { ReferenceBpe } from './ref-bpe.ts';

const json = readFileSync(new URL('./fixtures/tiny-tokenizer.json', import.meta.url), 'utf8');
// The tiny fixture model whose vocabulary this tokenizer matches (shared/ lies beside the repository).
const fixtureConfig = JSON.parse(readFileSync(join(import.meta.dirname, '../../../../shared/fixtures/gemma3n-tiny-a/config.json'), 'utf8')) as {
  eos_token_id: number[];
  text_config: { vocab_size: number };
  [tokenIdKey: string]: unknown;
};

const ASCII = [
  'Hello, world!',
  'The quick brown fox jumps over the lazy dog.',
  '  leading and trailing spaces  ',
  'tabs\tand\nnewlines\n\nand blank lines\n\n\n',
  'def f(x):\n    return x ** 2  # comment',
  '{"json": [1, 2, 3], "ok": true}',
  '~!@#$%^&*()_+`-=[]{}|;\':",./<>?',
  '1234567890 3.14159 -42',
  'https://example.com/path?q=1&r=2',
  'x'.repeat(1000),
  '',
];

describe('tiny fixture tokenizer (test/fixtures/tiny-tokenizer.json)', () => {
  const tiny = Tokenizer.fromJSON(json);

  it("has 1024 ids laid out like the tiny model's vocabulary", () => {
    expect(tiny.vocabSize).toBe(1024);
    expect(fixtureConfig.text_config.vocab_size).toBe(1024);
    expect([tiny.padId, tiny.eosId, tiny.bosId, tiny.tokenToId('<unk>')]).toEqual([0, 1, 2, 3]);
    expect([tiny.startOfTurnId, tiny.endOfTurnId]).toEqual([105, 106]);
    expect(fixtureConfig.eos_token_id).toEqual([tiny.eosId, tiny.endOfTurnId]);
    const ids: Record<string, string> = {
      boi_token_id: '<start_of_image>',
      boa_token_id: '<start_of_audio>',
      eoi_token_id: '<end_of_image>',
      image_token_id: '<image_soft_token>',
      eoa_token_id: '<end_of_audio>',
      audio_token_id: '<audio_soft_token>',
    };
    for (const [key, token] of Object.entries(ids)) expect([key, tiny.idToToken(fixtureConfig[key] as number)]).toEqual([key, token]);
    for (let id = 0; id < 1024; id++) expect(tiny.idToToken(id)).toBeTypeOf('string');
    expect(tiny.idToToken(1024)).toBeUndefined();
  });

  it('round-trips ASCII text, with text ids below 992, matching the slow reference', () => {
    const ref = new ReferenceBpe(JSON.parse(json));
    const items = ASCII.flatMap((text) => {
      const ids = tiny.encode(text);
      return [
        { text, got: tiny.decode(ids), want: text },
        { text, got: ids, want: ref.encode(text) },
        { text, got: ids.every((id) => id < 992 && id !== 3), want: true },
      ];
    });
    expect(firstMismatches('tiny', items)).toEqual([]);
    expect(tiny.encode(' the')).toHaveLength(1);
  });

  it('spells non-ASCII text in byte tokens and decodes it back', () => {
    for (const text of ['héllo wörld', '你好', '👨‍👩‍👧', 'a\u00a0b']) {
      const ids = tiny.encode(text);
      expect(tiny.decode(ids)).toBe(text);
      expect(ids.some((id) => id >= 109 && id < 365)).toBe(true);
    }
  });

  it('encodes a chat with an image and audio into the fixture ids', () => {
    const ids = encodeChat(
      tiny,
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'image' }, { type: 'audio' }, { type: 'text', text: 'What is this?' }] },
      ],
      { addGenerationPrompt: true, imageTokens: 256, audioTokens: 188 },
    );
    const count = (id: number) => ids.filter((x) => x === id).length;
    expect(ids.slice(0, 2)).toEqual([2, 105]);
    expect([count(4), count(993), count(992), count(5), count(1009), count(1008)]).toEqual([1, 256, 1, 1, 188, 1]);
    expect(tiny.decode(ids).endsWith('<end_of_turn>\n<start_of_turn>model\n')).toBe(true);
    expect(tiny.decode(ids, { skipSpecial: true })).toBe(`user\nBe brief.\n\n${'\n\n'.repeat(4)}What is this?\nmodel\n`);
  });
});
