/**
 * <g3n-chat>: a chat box on the engine, in Shadow DOM. Attributes: `model` (checkpoint folder URL,
 * relative to the page), `tokenizer` (optional tokenizer.json URL), `system-prompt`, `max-tokens`,
 * `theme` (light | dark | auto), and, off by default, `camera` (live preview, capture, retake; image
 * files) and `microphone` (recording with level and elapsed time; audio files): an input the loaded
 * model has no tower for is disabled with the reason. Events (bubbling, composed): `ready` (detail:
 * ModelInfo), `token` (detail: { text, tokenIds }), `done` (detail: { content, finishReason, usage }),
 * `error` (detail: { name, code, message }). Methods: send(text, parts?), stop(), reset(); property
 * `engine`. Each answer's element carries data-prompt-tokens, data-image-tokens, data-audio-tokens.
 */
import type { ChatMessage, CompletionUsage, ContentPart, FinishReason, LoadProgress, ModelInfo, WorkerEngine } from '@g3n/engine';
import { Attachments, describeAudio, type Attachment } from './attachments.ts';
import { connectEngine, type EngineClient } from './client.ts';
import { el } from './dom.ts';
import { mediaControls, MEDIA_STYLE } from './element-media.ts';
import { STYLE } from './element-style.ts';
import { renderMarkdown } from './markdown-dom.ts';

export interface TokenDetail {
  text: string;
  tokenIds: number[];
}

export interface DoneDetail {
  content: string;
  finishReason: FinishReason;
  usage: CompletionUsage | null;
}

export interface ErrorDetail {
  name: string;
  code: string | null;
  message: string;
}

const PHASES: Record<LoadProgress['phase'], string> = {
  config: 'reading the config',
  tokenizer: 'loading the tokenizer',
  download: 'downloading weights',
  cache: 'reading weights from the cache',
  upload: 'uploading weights',
  compile: 'compiling shaders',
  ready: 'ready',
};

export function errorDetail(e: unknown): ErrorDetail {
  const err = e as { name?: unknown; code?: unknown; message?: unknown } | null;
  return {
    name: typeof err?.name === 'string' ? err.name : 'Error',
    code: typeof err?.code === 'string' ? err.code : null,
    message: typeof err?.message === 'string' ? err.message : String(e),
  };
}

function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, attrs: Record<string, string> = {}): HTMLElementTagNameMap[K] {
  const el = Object.assign(document.createElement(tag), props);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/** Define <g3n-chat> (or `tag`) with engines in Workers made by `createWorker` (running engine-worker.ts). */
export function defineG3nChat(createWorker: () => Worker, tag = 'g3n-chat'): CustomElementConstructor {
  const existing = customElements.get(tag);
  if (existing) return existing;

  class G3nChatElement extends HTMLElement {
    static observedAttributes = ['model', 'tokenizer', 'camera', 'microphone'];
    private client: EngineClient | null = null;
    private loading: Promise<ModelInfo> | null = null;
    /** The model and tokenizer attributes `loading` is for. */
    private loadingKey = '';
    private syncQueued = false;
    private history: ChatMessage[] = [];
    private controller: AbortController | null = null;
    private readonly ui = {
      status: h('p', { className: 'status' }, { role: 'status', 'aria-live': 'polite', part: 'status' }),
      progress: h('progress', { max: 1, value: 0, hidden: true }, { 'aria-label': 'Model loading progress' }),
      log: h('ol', { className: 'log' }, { 'aria-label': 'Conversation', 'aria-live': 'polite', part: 'log' }),
      input: h('textarea', { rows: 2, placeholder: 'Message', disabled: true }, { 'aria-label': 'Message', part: 'input' }),
      send: h('button', { type: 'submit', textContent: 'Send', disabled: true }, { part: 'send' }),
      stop: h('button', { type: 'button', className: 'secondary', textContent: 'Stop', disabled: true }, { part: 'stop' }),
    };
    private readonly media = mediaControls();
    private readonly attachments: Attachments;

    constructor() {
      super();
      const root = this.attachShadow({ mode: 'open' });
      const style = h('style', { textContent: STYLE + MEDIA_STYLE });
      const form = h('form', {}, { 'aria-label': 'Send a message' });
      form.append(this.ui.input, this.ui.send, this.ui.stop);
      const frame = h('div', { className: 'frame' }, { part: 'frame' });
      const m = this.media.elements;
      frame.append(this.ui.status, this.ui.progress, this.ui.log, m.preview, m.list, m.message, form, this.media.row, this.media.why);
      root.append(style, frame);
      this.attachments = new Attachments({ ...m, drop: frame }, this.offered());
      this.syncMedia();
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        void this.submit();
      });
      this.ui.input.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          void this.submit();
        }
      });
      this.ui.stop.addEventListener('click', () => this.stop());
    }

    /** The engine of this element (null until a model attribute starts it). */
    get engine(): WorkerEngine | null {
      return this.client?.engine ?? null;
    }

    connectedCallback(): void {
      this.syncMedia();
      this.queueSync();
    }

    disconnectedCallback(): void {
      queueMicrotask(() => {
        if (this.isConnected) return;
        this.attachments.release();
        this.stop();
        this.client?.engine.terminate();
        this.client = null;
        this.loading = null;
        this.loadingKey = '';
      });
    }

    attributeChangedCallback(name: string): void {
      if (name === 'camera' || name === 'microphone') this.syncMedia();
      else this.queueSync();
    }

    private offered() {
      return { image: this.hasAttribute('camera'), audio: this.hasAttribute('microphone') };
    }

    /** Show the inputs the camera and microphone attributes ask for (none by default). */
    private syncMedia(): void {
      const offered = this.offered();
      const { camera, microphone } = this.media.elements;
      camera.hidden = !offered.image;
      microphone.hidden = !offered.audio;
      this.media.row.hidden = this.media.why.hidden = !offered.image && !offered.audio;
      this.attachments.setOffered(offered);
    }

    /** Once per task: (re)load when connected and the model or tokenizer attribute differs from the last load's. */
    private queueSync(): void {
      if (this.syncQueued) return;
      this.syncQueued = true;
      queueMicrotask(() => {
        this.syncQueued = false;
        if (!this.isConnected || !this.getAttribute('model') || this.key() === this.loadingKey) return;
        this.loading = null;
        void this.load().catch(() => undefined);
      });
    }

    private key(): string {
      return `${this.getAttribute('model')}\n${this.getAttribute('tokenizer') ?? ''}`;
    }

    /** Load the `model` attribute's checkpoint (once; again after the attribute changes). */
    load(): Promise<ModelInfo> {
      if (this.loading) return this.loading;
      const model = this.getAttribute('model');
      if (!model) return Promise.reject(new TypeError('<g3n-chat> needs a model attribute'));
      this.client ??= connectEngine(createWorker());
      this.reset();
      this.attachments.setInputs(null);
      const tokenizer = this.getAttribute('tokenizer');
      const { status, progress } = this.ui;
      this.setBusy(true);
      status.dataset.state = 'loading';
      status.textContent = 'Loading the model…';
      progress.hidden = false;
      const base = new URL(model, document.baseURI).href;
      // Progress calls cross the Worker boundary on their own: one may land after load() settled.
      let settled = false;
      const run = this.client.engine.load({
        model: base,
        tokenizer: tokenizer ? new URL(tokenizer, document.baseURI).href : undefined,
        onProgress: (p) => {
          if (settled || this.loading !== run) return;
          progress.value = p.total > 0 ? p.loaded / p.total : 0;
          status.textContent = `Loading the model: ${PHASES[p.phase] ?? p.phase}…`;
        },
      });
      this.loading = run;
      this.loadingKey = this.key();
      run.then(
        (info) => {
          settled = true;
          if (this.loading !== run) return;
          progress.hidden = true;
          status.dataset.state = 'ready';
          status.textContent = 'Ready';
          this.setBusy(false);
          this.attachments.setInputs(info.inputs);
          this.emit('ready', info);
        },
        (e) => {
          settled = true;
          if (this.loading !== run) return;
          progress.hidden = true;
          this.fail(e);
        },
      );
      return run;
    }

    /**
     * Send a user message, with image and audio parts before its text if given (the engine's content
     * parts: image_url, image, input_audio, audio); resolves with the answer (also streamed through
     * `token` events).
     */
    async send(text: string, parts: ContentPart[] = [], shown: readonly Attachment[] = []): Promise<string> {
      await this.load();
      const system = this.getAttribute('system-prompt');
      const maxTokens = Number(this.getAttribute('max-tokens') ?? '') || null;
      this.history.push({ role: 'user', content: parts.length ? [...parts, ...(text ? [{ type: 'text' as const, text }] : [])] : text });
      const sent = h('li', { className: 'msg', textContent: text }, { 'data-role': 'user' });
      if (parts.length) sent.prepend(sentMedia(parts, shown));
      this.ui.log.append(sent);
      const answer = h('li', { className: 'msg' }, { 'data-role': 'assistant', 'aria-busy': 'true' });
      this.ui.log.append(answer);
      this.setBusy(true, true);
      this.ui.status.dataset.state = 'generating';
      this.ui.status.textContent = 'Answering…';
      const controller = (this.controller = new AbortController());
      let content = '';
      try {
        const messages: ChatMessage[] = system ? [{ role: 'system', content: system }, ...this.history] : [...this.history];
        const stream = await this.engine!.chat.completions.create({ messages, max_tokens: maxTokens, stream: true, signal: controller.signal });
        let finishReason: FinishReason = 'stop';
        let usage: CompletionUsage | null = null;
        for await (const chunk of stream) {
          const choice = chunk.choices[0];
          const delta = choice.delta.content ?? '';
          if (delta || choice.token_ids.length) {
            content += delta;
            answer.replaceChildren(renderMarkdown(content));
            this.ui.log.scrollTop = this.ui.log.scrollHeight;
            this.emit('token', { text: delta, tokenIds: choice.token_ids } satisfies TokenDetail);
          }
          finishReason = choice.finish_reason ?? finishReason;
          usage = chunk.usage ?? usage;
        }
        this.history.push({ role: 'assistant', content });
        if (usage) {
          answer.dataset.promptTokens = String(usage.prompt_tokens);
          answer.dataset.imageTokens = String(usage.prompt_tokens_details.image_tokens);
          answer.dataset.audioTokens = String(usage.prompt_tokens_details.audio_tokens);
        }
        this.ui.status.dataset.state = 'ready';
        this.ui.status.textContent = finishReason === 'abort' ? 'Stopped' : 'Ready';
        this.emit('done', { content, finishReason, usage } satisfies DoneDetail);
        return content;
      } catch (e) {
        this.history.pop();
        this.fail(e);
        throw e;
      } finally {
        answer.removeAttribute('aria-busy');
        if (this.controller === controller) this.controller = null;
        this.setBusy(false);
      }
    }

    /** Stop the answer being generated (it ends with finishReason 'abort'). */
    stop(): void {
      this.controller?.abort();
    }

    /** Forget the conversation. */
    reset(): void {
      this.stop();
      this.history = [];
      this.ui.log.replaceChildren();
    }

    private async submit(): Promise<void> {
      const text = this.ui.input.value.trim();
      if ((!text && !this.attachments.count) || this.controller) return;
      this.ui.input.value = '';
      const { parts, taken } = this.attachments.take();
      await this.send(text, parts, taken).catch(() => undefined);
      this.ui.input.focus();
    }

    private setBusy(busy: boolean, generating = false): void {
      this.ui.input.disabled = busy && !generating;
      this.ui.send.disabled = busy;
      this.ui.stop.disabled = !generating;
    }

    private fail(e: unknown): void {
      const detail = errorDetail(e);
      this.ui.status.dataset.state = 'error';
      this.ui.status.textContent = detail.message;
      this.emit('error', detail);
    }

    private emit(type: string, detail: unknown): void {
      this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
    }
  }

  /** The images and clips of a sent message, above its text: the attachments' thumbnails, or one line per part. */
  function sentMedia(parts: readonly ContentPart[], shown: readonly Attachment[]): HTMLElement {
    const box = el('div', '', { class: 'sent-media' });
    if (shown.length === parts.length) {
      for (const a of shown) {
        if (a.kind === 'image') box.append(Object.assign(document.createElement('img'), { src: a.url, alt: 'Image sent with this message', className: 'thumb' }));
        else box.append(el('span', describeAudio(a), { class: 'small' }));
      }
    } else for (const p of parts) box.append(el('span', p.type === 'image' || p.type === 'image_url' ? 'image' : 'audio clip', { class: 'small' }));
    return box;
  }

  customElements.define(tag, G3nChatElement);
  return G3nChatElement;
}
