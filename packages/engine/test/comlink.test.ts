import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expose, wrap, type Endpoint } from 'comlink';
import { ContextOverflowError } from '@g3n/gemma3n';
import { DeviceLostError, G3nError } from '@g3n/gpu';
import { CheckpointError, NetworkError } from '@g3n/weights';
import { wrapEngine, type WorkerEngine } from '../src/create.ts';
import type { InThreadEngine } from '../src/engine.ts';
import { registerErrorTransfer, UnsupportedInputError } from '../src/errors.ts';
import { engineHost } from '../src/host.ts';
import type { ChatCompletionChunk, LoadProgress } from '../src/types.ts';
import { collect, golden, GPU_TEST_TIMEOUT, nodeEngine, serveFixture, tokenIds, type FixtureServer } from './helpers.ts';

const P = golden.prompt_ids;
const G = golden.generated_ids;

/** Both ends of a MessageChannel, started: stands in for the page and the Worker. */
function channel(): { here: Endpoint; there: Endpoint; close(): void } {
  const { port1, port2 } = new MessageChannel();
  port1.start();
  port2.start();
  return { here: port1, there: port2, close: () => (port1.close(), port2.close()) };
}

describe('errors across the Comlink boundary', () => {
  const errors: Record<string, () => Error> = {
    DeviceLostError: () => new DeviceLostError('destroyed', 'test'),
    ContextOverflowError: () => new ContextOverflowError(200, 128),
    CheckpointError: () => new CheckpointError('missing-file', 'no config.json', { file: 'config.json' }),
    NetworkError: () => new NetworkError('http://x/', 404, 'gone'),
    UnsupportedInputError: () => new UnsupportedInputError('image', 0),
    G3nError: () => new G3nError('QUOTA_EXCEEDED', 'full'),
    TypeError: () => new TypeError('plain'),
  };

  it.each(Object.keys(errors))('%s keeps its class, name, code, message and details', async (name) => {
    registerErrorTransfer();
    const { here, there, close } = channel();
    expose({ fail: () => Promise.reject(errors[name]()) }, there);
    try {
      const remote = wrap<{ fail(): Promise<void> }>(here);
      const got = await remote.fail().catch((e: unknown) => e);
      const want = errors[name]();
      expect(got).toBeInstanceOf(Error);
      expect(got).toMatchObject({ name: want.name, message: want.message });
      expect(Object.getPrototypeOf(got)).toBe(want instanceof G3nError ? Object.getPrototypeOf(want) : Error.prototype);
      if (want instanceof G3nError) {
        expect(got).toMatchObject({ code: want.code, details: want.details });
        for (const [k, v] of Object.entries(want)) if (typeof v !== 'object') expect((got as Record<string, unknown>)[k]).toBe(v);
      }
    } finally {
      close();
    }
  });
});

describe('the engine over a MessageChannel (as in the Worker)', { timeout: GPU_TEST_TIMEOUT }, () => {
  let server: FixtureServer;
  let local: InThreadEngine;
  let remote: WorkerEngine;
  let ports: ReturnType<typeof channel>;

  beforeAll(async () => {
    server = await serveFixture();
    local = nodeEngine().engine;
    ports = channel();
    expose(engineHost(local), ports.there);
    remote = wrapEngine(ports.here);
  }, GPU_TEST_TIMEOUT);
  afterAll(async () => {
    await local?.unload();
    remote?.terminate();
    ports?.close();
    await server?.close();
  });

  it('loads with proxied progress, streams the golden ids, aborts, then completes', async () => {
    const progress: LoadProgress[] = [];
    const info = await remote.load({ model: server.model, maxContext: 96, onProgress: (p) => void progress.push(p) });
    expect(info.maxContext).toBe(96);
    await new Promise((r) => setTimeout(r, 50));
    expect(progress.at(-1)?.phase).toBe('ready');

    const stream = await remote.chat.completions.create({ messages: [], prompt_token_ids: P, max_tokens: 4, temperature: 0, stream: true });
    const chunks = await collect(stream);
    expect(tokenIds(chunks)).toEqual(G.slice(0, 4));
    expect(chunks.at(-1)!.usage!.completion_tokens).toBe(4);

    const controller = new AbortController();
    const aborted: ChatCompletionChunk[] = [];
    for await (const c of await remote.chat.completions.create({ messages: [], prompt_token_ids: P, max_tokens: G.length, temperature: 0, stream: true, signal: controller.signal })) {
      aborted.push(c);
      if (aborted.length === 2) controller.abort();
    }
    expect(aborted.at(-1)!.choices[0].finish_reason).toBe('abort');
    expect(tokenIds(aborted).length).toBeLessThan(G.length);

    const done = await remote.chat.completions.create({ messages: [], prompt_token_ids: P, max_tokens: 2, temperature: 0 });
    expect(done.choices[0].token_ids).toEqual(G.slice(0, 2));
    expect(done.choices[0].finish_reason).toBe('length');
    expect((await remote.capabilities()).model?.maxContext).toBe(96);
  });

  it('request errors arrive typed; leaving a stream early releases the queue', async () => {
    const err = await remote.chat.completions.create({ messages: [], prompt_token_ids: P, max_tokens: 96 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContextOverflowError);
    expect(err).toMatchObject({ code: 'CONTEXT_OVERFLOW', details: { needed: P.length + 96, max: 96 } });
    const streamErr = await remote.chat.completions.create({ messages: [], prompt_token_ids: [99999], stream: true }).catch((e: unknown) => e);
    expect(streamErr).toMatchObject({ name: 'BadRequestError', code: 'BAD_INPUT' });

    for await (const c of await remote.chat.completions.create({ messages: [], prompt_token_ids: P, max_tokens: G.length, temperature: 0, stream: true })) {
      if (c.choices[0].token_ids.length) break;
    }
    const next = await remote.chat.completions.create({ messages: [], prompt_token_ids: P, max_tokens: 2, temperature: 0 });
    expect(next.choices[0].token_ids).toEqual(G.slice(0, 2));
  });

  it('malformed chat requests (bad roles, huge or non-string content, unknown part types) fail typed across the boundary, and the engine keeps answering', async () => {
    const user = (content: unknown) => ({ messages: [{ role: 'user', content }] });
    const cases: Array<[string, unknown, RegExp]> = [
      ['messages not a list', { messages: 'hello' }, /^messages: must be a list/],
      ['a null message', { messages: [null] }, /^messages\[0\]: must be a \{ role, content \} object/],
      ['an unknown role', { messages: [{ role: 'hacker', content: 'hi' }] }, /^messages\[0\]\.role: must be "system", "user" or "assistant", got "hacker"/],
      ['a numeric role', { messages: [{ role: 42, content: 'hi' }] }, /^messages\[0\]\.role: .* got 42/],
      ['numeric content', user(42), /^messages\[0\]\.content: must be a string or a list of parts, got 42/],
      ['object content', user({ text: 'hi' }), /content: must be a string or a list of parts, got a object/],
      ['BigInt content', user(10n), /content: must be a string or a list of parts, got 10n/],
      ['an unknown part type', user([{ type: 'video', url: 'x' }]), /content\[0\]\.type: unknown part type "video"/],
      ['a part without a type', user([{ text: 'x' }]), /content\[0\]\.type: must be a string, got undefined/],
      ['a text part with a number', user([{ type: 'text', text: 5 }]), /content\[0\]\.text: must be a string, got 5/],
      ['a lone surrogate', user('a\ud800b'), /content: is not valid Unicode: a lone surrogate at index 1/],
      ['huge content', user('x'.repeat(4_000_000)), /^messages: hold 4000000 characters of text, more than a 96-token context/],
    ];
    for (const [what, request, message] of cases) {
      const started = performance.now();
      const err = await remote.chat.completions.create(request as never).catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(G3nError);
      expect(err, what).toMatchObject({ name: 'BadRequestError', code: 'BAD_INPUT', message: expect.stringMatching(message) });
      expect(performance.now() - started, what).toBeLessThan(5_000);
    }
    const roles = await remote.chat.completions.create({ messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] }).catch((e: unknown) => e);
    expect(roles).toMatchObject({ code: 'BAD_INPUT', message: expect.stringMatching(/roles must alternate/) });
    const next = await remote.chat.completions.create({ messages: [], prompt_token_ids: P, max_tokens: 2, temperature: 0 });
    expect(next.choices[0].token_ids).toEqual(G.slice(0, 2));
  });
});
