import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChatFormatError, TokenizerError, encodeChat, expandMultimodalPlaceholders, renderChat, type ChatMessage } from '../src/index.ts';
import { buildCorpus } from './corpus.ts';
import { firstMismatches, loadGemma3, type Gemma3 } from './gemma3.ts';

// The Gemma 3n chat template, as the HF converter installs it (spec section 6).
const GEMMA3N_TEMPLATE = readFileSync(new URL('./fixtures/gemma3n-chat-template.jinja', import.meta.url), 'utf8');

const IMG = '\n\n<start_of_image>' + '<image_soft_token>'.repeat(256) + '<end_of_image>\n\n';
const AUD = '\n\n<start_of_audio>' + '<audio_soft_token>'.repeat(188) + '<end_of_audio>\n\n';

const conversations: { name: string; messages: ChatMessage[]; textOnly: boolean }[] = [
  { name: 'one user turn', messages: [{ role: 'user', content: 'Hello!' }], textOnly: true },
  { name: 'system + user', messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: '  What is 2+2?\n' }], textOnly: true },
  {
    name: 'multi-turn',
    messages: [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: ' Hello! How can I help? ' },
      { role: 'user', content: 'Tell me a joke.' },
      { role: 'assistant', content: 'Why did the GPU cross the road?' },
      { role: 'user', content: '\tWhy?\t' },
    ],
    textOnly: true,
  },
  { name: 'text parts', messages: [{ role: 'user', content: [{ type: 'text', text: ' first ' }, { type: 'text', text: '\nsecond\n' }] }], textOnly: true },
  { name: 'system as a text part', messages: [{ role: 'system', content: [{ type: 'text', text: 'Answer in French.' }] }, { role: 'user', content: 'Bonjour' }], textOnly: true },
  {
    name: 'image and audio parts',
    messages: [
      { role: 'system', content: 'Describe.' },
      { role: 'user', content: [{ type: 'image', url: 'cat.png' }, { type: 'text', text: ' What is shown? ' }, { type: 'audio', samples: [] }] },
    ],
    textOnly: false,
  },
];

let g: Gemma3;
beforeAll(() => {
  g = loadGemma3();
});

describe('renderChat (built-in Gemma 3n format)', () => {
  it('one user turn with and without generation prompt', () => {
    const m: ChatMessage[] = [{ role: 'user', content: ' Hello! ' }];
    expect(renderChat(m, { addGenerationPrompt: true })).toBe('<bos><start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\n');
    expect(renderChat(m, { addGenerationPrompt: false })).toBe('<bos><start_of_turn>user\nHello!<end_of_turn>\n');
  });

  it('system prompt opens the first user turn; multi-turn; assistant is "model"', () => {
    const m: ChatMessage[] = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: 'Bye' },
    ];
    expect(renderChat(m, { addGenerationPrompt: true })).toBe(
      '<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n',
    );
  });

  it('parts: text trimmed and joined, image and audio placeholders in order', () => {
    const m: ChatMessage[] = [{ role: 'user', content: [{ type: 'text', text: ' Look: ' }, { type: 'image' }, { type: 'audio' }, { type: 'text', text: 'and listen\n' }] }];
    expect(renderChat(m, { addGenerationPrompt: false })).toBe('<bos><start_of_turn>user\nLook:<image_soft_token><audio_soft_token>and listen<end_of_turn>\n');
  });

  it('the spec example: system + image + text, expanded', () => {
    const m: ChatMessage[] = [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'What is shown in this image?' }] },
    ];
    const text = expandMultimodalPlaceholders(renderChat(m, { addGenerationPrompt: true }), { imageTokens: 256, audioTokens: 188 });
    expect(text).toBe(`<bos><start_of_turn>user\nYou are a helpful assistant.\n\n${IMG}What is shown in this image?<end_of_turn>\n<start_of_turn>model\n`);
  });

  it('a system message alone renders no turn (as the template does)', () => {
    expect(renderChat([{ role: 'system', content: 'x' }], { addGenerationPrompt: true })).toBe('<bos><start_of_turn>model\n');
  });

  it.each([
    ['two user turns', [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }]],
    ['assistant first', [{ role: 'assistant', content: 'a' }]],
    ['system after the first message', [{ role: 'user', content: 'a' }, { role: 'system', content: 'b' }]],
    ['unknown role', [{ role: 'tool', content: 'a' }]],
    ['unknown part type', [{ role: 'user', content: [{ type: 'video' }] }]],
    ['non-text part in a system message', [{ role: 'system', content: [{ type: 'image' }] }, { role: 'user', content: 'a' }]],
    ['content neither string nor array', [{ role: 'user', content: 42 }]],
    ['no messages', []],
  ])('%s -> ChatFormatError (BAD_INPUT)', (_name, messages) => {
    const render = () => renderChat(messages as ChatMessage[], { addGenerationPrompt: true });
    expect(render).toThrow(ChatFormatError);
    expect(render).toThrow(expect.objectContaining({ code: 'BAD_INPUT' }));
  });
});

describe('renderChat with a checkpoint template (@huggingface/jinja)', () => {
  it.each(conversations)('Gemma 3n template renders $name exactly like the built-in format', ({ messages }) => {
    for (const addGenerationPrompt of [false, true]) {
      expect(renderChat(messages, { addGenerationPrompt, template: GEMMA3N_TEMPLATE })).toBe(renderChat(messages, { addGenerationPrompt }));
    }
  });

  it.each(conversations.filter((c) => c.textOnly))("the Gemma 3 checkpoint's own template renders $name like the built-in format", ({ messages }) => {
    expect(renderChat(messages, { addGenerationPrompt: true, template: g.config.chat_template })).toBe(renderChat(messages, { addGenerationPrompt: true }));
  });

  it("the template's raise_exception becomes a ChatFormatError", () => {
    const m: ChatMessage[] = [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }];
    expect(() => renderChat(m, { addGenerationPrompt: true, template: GEMMA3N_TEMPLATE })).toThrow(/Conversation roles must alternate/);
    expect(() => renderChat(m, { addGenerationPrompt: true, template: GEMMA3N_TEMPLATE })).toThrow(ChatFormatError);
    expect(() => renderChat(m, { addGenerationPrompt: true, template: '{% if %}' })).toThrow(ChatFormatError);
  });

  it('the template sees part types and text, not the pixel data of an image part', () => {
    const m: ChatMessage[] = [{ role: 'user', content: [{ type: 'image', pixels: new Float32Array(3 * 768 * 768) }, { type: 'text', text: 'Hi' }] }];
    expect(renderChat(m, { addGenerationPrompt: false, template: GEMMA3N_TEMPLATE })).toBe('<bos><start_of_turn>user\n<image_soft_token>Hi<end_of_turn>\n');
  });

  it('bosToken is passed to the template', () => {
    expect(renderChat([{ role: 'user', content: 'x' }], { addGenerationPrompt: false, template: '{{ bos_token }}|{{ add_generation_prompt }}', bosToken: '<s>' })).toBe('<s>|false');
  });
});

describe('expandMultimodalPlaceholders', () => {
  it('expands every placeholder, default 256 image / 188 audio tokens', () => {
    expect(expandMultimodalPlaceholders('a<image_soft_token>b<audio_soft_token>c<image_soft_token>')).toBe(`a${IMG}b${AUD}c${IMG}`);
    expect(expandMultimodalPlaceholders('no placeholders')).toBe('no placeholders');
  });

  it('takes the counts from the options', () => {
    expect(expandMultimodalPlaceholders('<image_soft_token><audio_soft_token>', { imageTokens: 2, audioTokens: 0 })).toBe(
      '\n\n<start_of_image><image_soft_token><image_soft_token><end_of_image>\n\n\n\n<start_of_audio><end_of_audio>\n\n',
    );
    expect(() => expandMultimodalPlaceholders('x', { imageTokens: -1 })).toThrow(ChatFormatError);
    expect(() => expandMultimodalPlaceholders('x', { audioTokens: 1.5 })).toThrow(ChatFormatError);
  });
});

describe('encodeChat on the real Gemma 3 vocabulary', () => {
  it('conversations built from the tokenizer corpus encode like the reference encoder', () => {
    const texts = buildCorpus()
      .map((e) => e.text)
      .filter((t) => t.length < 2000);
    const items = [];
    for (let i = 0; i + 2 < texts.length; i += 3) {
      const messages: ChatMessage[] = [
        { role: 'system', content: texts[i] },
        { role: 'user', content: texts[i + 1] },
        { role: 'assistant', content: [{ type: 'text', text: texts[i + 2] }] },
        { role: 'user', content: 'continue' },
      ];
      const text = expandMultimodalPlaceholders(renderChat(messages, { addGenerationPrompt: true }));
      items.push({ text, got: encodeChat(g.ours, messages, { addGenerationPrompt: true }), want: g.reference.encode(text, { add_special_tokens: false }) });
    }
    expect(items.length).toBeGreaterThanOrEqual(100);
    expect(firstMismatches('encodeChat', items)).toEqual([]);
    expect(items[0].got.slice(0, 2)).toEqual([2, 105]);
  });

  it('an image expands to <start_of_image> + 256 soft tokens + <end_of_image>', () => {
    const ids = encodeChat(g.ours, [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'Caption?' }] }], { addGenerationPrompt: true });
    const soft = g.ours.tokenToId('<image_soft_token>')!;
    const start = ids.indexOf(g.ours.tokenToId('<start_of_image>')!);
    expect(ids.filter((id) => id === soft).length).toBe(256);
    expect(ids.slice(start + 1, start + 257).every((id) => id === soft)).toBe(true);
    expect(ids[start + 257]).toBe(g.ours.tokenToId('<end_of_image>'));
    expect(g.ours.decode(ids.slice(0, start))).toBe('<bos><start_of_turn>user\n\n\n');
    expect(g.ours.decode(ids.slice(start + 258))).toBe('\n\nCaption?<end_of_turn>\n<start_of_turn>model\n');
  });

  it('audio on a vocabulary without <audio_soft_token> (Gemma 3) is a TokenizerError', () => {
    const encode = () => encodeChat(g.ours, [{ role: 'user', content: [{ type: 'audio' }] }], { addGenerationPrompt: true });
    expect(encode).toThrow(TokenizerError);
    expect(encode).toThrow(/<audio_soft_token>/);
  });
});
