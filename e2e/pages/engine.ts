/**
 * The engine e2e page: creates the engine in its Worker (createEngine), loads the bundled tiny
 * model (served with its test tokenizer.json), and lets the Playwright spec drive requests through
 * window.engineTest. A requestAnimationFrame counter runs on the main thread throughout, so the
 * spec can measure that generation never blocks the page.
 */
import { createEngine, type CompletionUsage, type ContentPart, type FinishReason, type ModelInfo } from '../../packages/engine/src/index.ts';

export interface StreamResult {
  ids: number[];
  content: string;
  finish: FinishReason | null;
  usage: CompletionUsage | null;
  /** Error name and code, when the request failed. */
  error: { name: string; code: string | undefined; message: string } | null;
}

export interface FrameStats {
  count: number;
  /** Longest time between two consecutive frames since the last reset, in ms. */
  maxGapMs: number;
  elapsedMs: number;
}

export interface EngineTestApi {
  /** Load the bundled tiny model (`ple`: where its PLE table goes, default the engine's). */
  load(ple?: 'gpu' | 'host' | 'auto'): Promise<ModelInfo>;
  /** Load one of the bundled models (models/<name>/). */
  loadBundled(name: string, maxContext: number): Promise<ModelInfo>;
  /**
   * Ask about a generated picture (an ImageBitmap, transferred to the Worker) or a generated 2 s tone at
   * 48 kHz (Float32Array PCM, resampled in the engine); greedy, `maxTokens` tokens.
   */
  askWith(kind: 'image' | 'audio', text: string, maxTokens: number): Promise<StreamResult>;
  /** Stream a greedy answer to `promptIds`; abort through the request's signal after `abortAfter` tokens. */
  stream(promptIds: number[], maxTokens: number, abortAfter?: number): Promise<StreamResult>;
  resetFrames(): void;
  frames(): FrameStats;
}

declare global {
  interface Window {
    engineTest: EngineTestApi;
  }
}

const el = (id: string) => document.getElementById(id) as HTMLElement;

let frames = { count: 0, maxGapMs: 0, start: performance.now(), last: 0 };
function tick(t: number): void {
  if (frames.last) frames.maxGapMs = Math.max(frames.maxGapMs, t - frames.last);
  frames.last = t;
  frames.count++;
  el('frames').textContent = String(frames.count);
  requestAnimationFrame(tick);
}
requestAnimationFrame(tick);

const engine = createEngine();

window.engineTest = {
  async load(ple) {
    el('status').textContent = 'loading';
    const info = await engine.load({
      model: `${import.meta.env.BASE_URL}models/tiny/`,
      maxContext: 96,
      ...(ple ? { ple } : {}),
      onProgress: (p) => void (el('status').textContent = `loading: ${p.phase}`),
    });
    el('status').textContent = 'ready';
    return info;
  },
  async loadBundled(name, maxContext) {
    el('status').textContent = 'loading';
    const info = await engine.load({ model: `${import.meta.env.BASE_URL}models/${name}/`, maxContext });
    el('status').textContent = 'ready';
    return info;
  },
  async askWith(kind, text, maxTokens) {
    const result: StreamResult = { ids: [], content: '', finish: null, usage: null, error: null };
    try {
      let part: ContentPart;
      if (kind === 'image') {
        const canvas = new OffscreenCanvas(320, 240);
        const ctx = canvas.getContext('2d')!;
        const gradient = ctx.createLinearGradient(0, 0, 320, 240);
        gradient.addColorStop(0, '#1a5fd0');
        gradient.addColorStop(1, '#f0c020');
        ctx.fillStyle = gradient;
        ctx.fillRect(0, 0, 320, 240);
        part = { type: 'image', image: await createImageBitmap(canvas) };
      } else {
        const pcm = new Float32Array(96_000);
        for (let i = 0; i < pcm.length; i++) pcm[i] = 0.3 * Math.sin((2 * Math.PI * 440 * i) / 48_000);
        part = { type: 'audio', audio: pcm, sampleRate: 48_000 };
      }
      const r = await engine.chat.completions.create({ messages: [{ role: 'user', content: [part, { type: 'text', text }] }], max_tokens: maxTokens, temperature: 0 });
      result.ids = r.choices[0].token_ids;
      result.content = r.choices[0].message.content;
      result.finish = r.choices[0].finish_reason;
      result.usage = r.usage;
    } catch (e) {
      const err = e as Error & { code?: string };
      result.error = { name: err.name, code: err.code, message: err.message };
    }
    return result;
  },
  async stream(promptIds, maxTokens, abortAfter) {
    const controller = new AbortController();
    const result: StreamResult = { ids: [], content: '', finish: null, usage: null, error: null };
    el('status').textContent = 'generating';
    try {
      const stream = await engine.chat.completions.create({ messages: [], prompt_token_ids: promptIds, max_tokens: maxTokens, temperature: 0, stream: true, signal: controller.signal });
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        result.ids.push(...choice.token_ids);
        result.content += choice.delta.content ?? '';
        result.finish = choice.finish_reason ?? result.finish;
        result.usage = chunk.usage ?? result.usage;
        el('out').textContent = result.content;
        if (abortAfter !== undefined && result.ids.length >= abortAfter) controller.abort();
      }
    } catch (e) {
      const err = e as Error & { code?: string };
      result.error = { name: err.name, code: err.code, message: err.message };
    }
    el('status').textContent = 'ready';
    return result;
  },
  resetFrames() {
    frames = { count: 0, maxGapMs: 0, start: performance.now(), last: 0 };
  },
  frames: () => ({ count: frames.count, maxGapMs: frames.maxGapMs, elapsedMs: performance.now() - frames.start }),
};

el('status').textContent = 'idle';
