/**
 * The conversation: multi-turn history sent whole with each request (the engine reuses the KV
 * cache of the common prefix), answers streamed into the page through the safe Markdown renderer,
 * a stop button, a new-chat button, a copy button per message and the answer's stats from `usage`.
 * The latest answer's text element carries data-testid="answer".
 */
import { describeAudio, errorDetail, renderMarkdown, type Attachment, type Attachments } from '@g3n/embed';
import type { ChatMessage, CompletionUsage, FinishReason, WorkerEngine } from '@g3n/engine';
import { el, formatCount } from './format.ts';

export interface AnswerOptions {
  system: string;
  maxTokens: number | null;
  temperature: number | null;
}

export interface ChatElements {
  log: HTMLOListElement;
  empty: HTMLElement;
  prompt: HTMLTextAreaElement;
  send: HTMLButtonElement;
  stop: HTMLButtonElement;
}

const FINISH: Record<FinishReason, string> = { stop: 'finished', length: 'reached the length limit', abort: 'stopped' };

export function describeUsage(u: CompletionUsage, finish: FinishReason): string {
  const parts = [
    `first token after ${formatCount(u.time_to_first_token_ms / 1000, 2)} s`,
    `prefill ${formatCount(u.prefill_tokens_per_s)} tok/s (${u.prefilled_tokens} of ${u.prompt_tokens} prompt tokens run)`,
    `decode ${formatCount(u.decode_tokens_per_s)} tok/s`,
    `${u.completion_tokens} ${u.completion_tokens === 1 ? 'token' : 'tokens'}, ${FINISH[finish]}`,
  ];
  return parts.join(' · ');
}

async function copyText(text: string, button: HTMLButtonElement): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Copy failed';
  }
  setTimeout(() => (button.textContent = 'Copy'), 1500);
}

/** The images and clips of a sent message, shown above its text. */
function thumbnails(items: readonly Attachment[]): HTMLElement {
  const box = el('div', '', { class: 'sent-media' });
  for (const a of items) {
    if (a.kind === 'image') box.append(Object.assign(document.createElement('img'), { src: a.url, alt: 'Image sent with this message', className: 'thumb' }));
    else box.append(el('span', describeAudio(a), { class: 'small muted' }));
  }
  return box;
}

export class ChatView {
  private history: ChatMessage[] = [];
  private controller: AbortController | null = null;
  private ready = false;

  constructor(
    private readonly ui: ChatElements,
    private readonly engine: () => WorkerEngine | null,
    private readonly options: () => AnswerOptions,
    private readonly onBusy: (busy: boolean) => void,
    private readonly attachments: Attachments | null = null,
  ) {
    ui.prompt.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        void this.submit();
      }
    });
    ui.prompt.form?.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.submit();
    });
    ui.stop.addEventListener('click', () => this.stop());
  }

  get busy(): boolean {
    return this.controller !== null;
  }

  /** A model is loaded (or not): enable or disable the composer; the empty chat's hint says what to do next. */
  setReady(ready: boolean): void {
    this.ready = ready;
    this.ui.empty.textContent = ready ? 'Ask something. Enter sends; Shift+Enter starts a new line.' : 'Load a model, then ask something. Enter sends; Shift+Enter starts a new line.';
    this.sync();
  }

  /** Keep the latest line of the conversation (the answer, then its stats) in view, inside the log. */
  private follow(): void {
    this.ui.log.scrollTop = this.ui.log.scrollHeight;
  }

  stop(): void {
    this.controller?.abort();
  }

  newChat(): void {
    this.stop();
    this.history = [];
    this.ui.log.replaceChildren();
    this.ui.empty.hidden = false;
    this.ui.prompt.focus();
  }

  async submit(): Promise<void> {
    const text = this.ui.prompt.value.trim();
    if ((!text && !this.attachments?.count) || this.busy || !this.ready) return;
    this.ui.prompt.value = '';
    await this.send(text);
  }

  async send(text: string): Promise<void> {
    const engine = this.engine();
    if (!engine) return;
    const opts = this.options();
    this.ui.empty.hidden = true;
    const media = this.attachments?.take() ?? { parts: [], taken: [] };
    this.history.push({ role: 'user', content: media.parts.length ? [...media.parts, { type: 'text', text }] : text });
    const sent = this.message('user', text);
    if (media.taken.length) sent.body.prepend(thumbnails(media.taken));
    this.ui.log.append(sent.li);
    const answer = this.message('assistant', '');
    this.ui.log.querySelector('[data-testid="answer"]')?.removeAttribute('data-testid');
    answer.body.dataset.testid = 'answer';
    answer.li.setAttribute('aria-busy', 'true');
    this.ui.log.append(answer.li);
    const controller = (this.controller = new AbortController());
    this.sync();
    let content = '';
    let frame = 0;
    const render = () => {
      frame = 0;
      answer.body.replaceChildren(renderMarkdown(content));
      this.follow();
    };
    try {
      const messages: ChatMessage[] = opts.system ? [{ role: 'system', content: opts.system }, ...this.history] : [...this.history];
      const stream = await engine.chat.completions.create({ messages, stream: true, max_tokens: opts.maxTokens, temperature: opts.temperature, signal: controller.signal });
      let finish: FinishReason = 'stop';
      let usage: CompletionUsage | null = null;
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        if (choice.delta.content) {
          content += choice.delta.content;
          frame ||= requestAnimationFrame(render);
        }
        finish = choice.finish_reason ?? finish;
        usage = chunk.usage ?? usage;
      }
      cancelAnimationFrame(frame);
      render();
      answer.setRaw(content);
      this.history.push({ role: 'assistant', content });
      answer.stats.textContent = usage ? describeUsage(usage, finish) : FINISH[finish];
      if (usage) {
        answer.body.dataset.promptTokens = String(usage.prompt_tokens);
        answer.body.dataset.imageTokens = String(usage.prompt_tokens_details.image_tokens);
        answer.body.dataset.audioTokens = String(usage.prompt_tokens_details.audio_tokens);
      }
      answer.li.dataset.finish = finish;
      this.follow();
    } catch (e) {
      cancelAnimationFrame(frame);
      this.history.pop();
      const detail = errorDetail(e);
      answer.body.replaceChildren(el('p', `The answer failed: ${detail.message}`, { role: 'alert', class: 'message' }));
      answer.li.dataset.finish = 'error';
      this.follow();
    } finally {
      answer.li.removeAttribute('aria-busy');
      this.controller = null;
      this.sync();
      this.ui.prompt.focus();
    }
  }

  private sync(): void {
    const busy = this.busy;
    this.ui.prompt.disabled = !this.ready;
    this.ui.send.disabled = !this.ready || busy;
    this.ui.stop.disabled = !busy;
    this.onBusy(busy);
  }

  private message(role: 'user' | 'assistant', text: string) {
    const li = el('li', '', { class: 'msg', 'data-role': role });
    const head = el('div', '', { class: 'msg-head' });
    const who = el('span', role === 'user' ? 'You' : 'Gemma', { class: 'who' });
    let raw = text;
    const copy = el('button', 'Copy', { type: 'button', class: 'link', 'aria-label': role === 'user' ? 'Copy your message' : 'Copy the answer' });
    copy.addEventListener('click', () => void copyText(raw, copy));
    head.append(who, copy);
    const body = el('div', role === 'user' ? text : '', { class: 'msg-body' });
    const stats = el('p', '', { class: 'stats small muted', 'data-testid': role === 'assistant' ? 'stats' : 'user-stats' });
    li.append(head, body);
    if (role === 'assistant') li.append(stats);
    return { li, body, stats, setRaw: (t: string) => void (raw = t) };
  }
}
