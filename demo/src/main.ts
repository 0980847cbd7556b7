/**
 * The g3n demo: a chat on the engine (in its Worker, through the public Engine API), with a model
 * picker, a load panel, the storage view and the device panel. Hooks for automated checks:
 * `?model=tiny` loads the bundled tiny model (`?model=none` loads nothing); `?slice=<name>` preselects a MatFormer
 * configuration (or `auto`) of a model that has them (`?model=tiny-matformer&slice=e2b-like`); #status reads `ready`
 * once a model is loaded; data-testids prompt, send, stop and answer (the latest answer's text), size-select.
 */
import { Attachments, connectEngine, errorDetail, listCachedModels, renderMarkdown, type EngineClient } from '@g3n/embed';
import { ChatView, type AnswerOptions } from './chat.ts';
import { adviceFor, NO_WEBGPU_HELP, showCapabilities, showNoDevice } from './device-panel.ts';
import { byId, formatBytes } from './format.ts';
import { LoadPanel } from './load-panel.ts';
import { describeTinyMatformer } from './matformer.ts';
import { accessToken, checkpointBytes, describeModel, describeTiny, lastModel, specFor, specFromQuery, type ModelChoice, type ModelSpec } from './models.ts';
import { setUpPwa } from './pwa.ts';
import { SizeSelect } from './size-select.ts';
import { estimateStorage, StoragePanel } from './storage-panel.ts';
import './style.css';

type Status = 'checking' | 'no-webgpu' | 'idle' | 'loading' | 'ready' | 'generating' | 'error';

declare global {
  interface Window {
    /** The demo's engine and renderer, for the console and the e2e tests. */
    g3nDemo: { client: EngineClient; renderMarkdown: typeof renderMarkdown };
  }
}

const statusEl = byId('status');
const messageEl = byId('message');
const form = byId<HTMLFormElement>('model-form');
const loadButton = byId<HTMLButtonElement>('load');
const customUrl = byId<HTMLInputElement>('custom-url');
const tokenInput = byId<HTMLInputElement>('hf-token');

const client = connectEngine(new Worker(new URL('./engine-worker.ts', import.meta.url), { type: 'module', name: 'g3n-engine' }));
window.g3nDemo = { client, renderMarkdown };

let status: Status = 'checking';
let loaded: ModelSpec | null = null;
/** The loaded model's inputs (towers), restored when a later load fails and the engine keeps the model. */
let loadedInputs: Parameters<Attachments['setInputs']>[0] = null;

function setStatus(s: Status): void {
  status = s;
  statusEl.textContent = s;
  document.body.dataset.status = s;
  loadButton.disabled = s === 'checking' || s === 'no-webgpu' || s === 'loading' || s === 'generating';
}

function showMessage(text: string): void {
  messageEl.textContent = text;
  messageEl.hidden = !text;
}

/** An error the user must see now: shown, scrolled to where they are looking (a phone's Load button is far below it), and focused. */
function showError(text: string): void {
  showMessage(text);
  messageEl.tabIndex = -1;
  messageEl.scrollIntoView({ block: 'center' });
  messageEl.focus({ preventScroll: true });
}

/**
 * What a failed load says: a request the browser refused (the server sends no CORS headers for this
 * page, or is unreachable) names the server and what it must allow, not the file that was probed first.
 */
function loadFailure(spec: ModelSpec, e: unknown): string {
  const detail = errorDetail(e);
  const status = (e as { details?: { status?: unknown } } | null)?.details?.status;
  if (detail.code === 'NETWORK' && status === 0 && /failed to fetch|networkerror|load failed/i.test(detail.message)) {
    const server = new URL(spec.url).origin;
    return `Loading ${spec.label} failed: ${server} did not let this page read the model. The server must allow this origin (${location.origin}) to fetch its files (CORS: Access-Control-Allow-Origin), or it is offline.`;
  }
  return `Loading ${spec.label} failed: ${detail.message} ${adviceFor(detail.code)}`.trim();
}

function nameOf(id: string): string {
  for (const choice of ['tiny', 'tiny-matformer', 'tiny-vision', 'tiny-audio', 'e2b', 'e4b'] as const) if (specFor(choice)?.url === id) return specFor(choice)!.label;
  return id;
}

const sizeSelect = new SizeSelect({ row: byId('size-row'), select: byId<HTMLSelectElement>('size-select'), detail: byId('size-detail'), quant: byId<HTMLSelectElement>('quant') });
const loadPanel = new LoadPanel(byId<HTMLOListElement>('phases'), byId('traffic'));
const storagePanel = new StoragePanel(byId<HTMLUListElement>('cached'), byId('quota'), byId<HTMLButtonElement>('clear-cache'), nameOf, () => void updateSpace());

function answerOptions(): AnswerOptions {
  const max = Number(byId<HTMLInputElement>('max-tokens').value);
  const temp = byId<HTMLInputElement>('temperature').value.trim();
  return {
    system: byId<HTMLTextAreaElement>('system-prompt').value.trim(),
    maxTokens: Number.isInteger(max) && max > 0 ? max : null,
    temperature: temp === '' || !Number.isFinite(Number(temp)) ? null : Number(temp),
  };
}

const attachments = new Attachments({
  camera: byId<HTMLButtonElement>('camera'),
  microphone: byId<HTMLButtonElement>('microphone'),
  file: byId<HTMLInputElement>('attach'),
  list: byId<HTMLUListElement>('attachments'),
  why: byId('media-why'),
  message: byId('media-message'),
  preview: byId('camera-preview'),
  video: byId<HTMLVideoElement>('camera-video'),
  capture: byId<HTMLButtonElement>('capture'),
  flip: byId<HTMLButtonElement>('flip-camera'),
  close: byId<HTMLButtonElement>('close-camera'),
  meter: byId<HTMLMeterElement>('level'),
  elapsed: byId('elapsed'),
  drop: byId('composer'),
});

const chat = new ChatView(
  { log: byId<HTMLOListElement>('log'), empty: byId('empty'), prompt: byId<HTMLTextAreaElement>('prompt'), send: byId<HTMLButtonElement>('send'), stop: byId<HTMLButtonElement>('stop') },
  () => (loaded ? client.engine : null),
  answerOptions,
  (busy) => {
    if (status === 'ready' || status === 'generating') setStatus(busy ? 'generating' : 'ready');
  },
  attachments,
);
byId('new-chat').addEventListener('click', () => chat.newChat());

function selectedChoice(): ModelChoice {
  return ((form.elements.namedItem('model') as RadioNodeList).value || 'tiny') as ModelChoice;
}

function selectedSpec(): ModelSpec | null {
  return specFor(selectedChoice(), customUrl.value);
}

function selectChoice(spec: ModelSpec, slice: string | null = null): void {
  (form.elements.namedItem('model') as RadioNodeList).value = spec.choice;
  if (spec.choice === 'custom') customUrl.value = spec.url;
  syncForm();
  sizeSelect.show(spec.choice, slice);
}

function syncForm(): void {
  const choice = selectedChoice();
  customUrl.disabled = choice !== 'custom';
  customUrl.required = choice === 'custom';
  byId('token-row').hidden = choice !== 'e2b' && choice !== 'e4b' && !(choice === 'custom' && customUrl.value.includes('huggingface.co'));
  sizeSelect.show(choice);
  describeChoice(choice);
  void updateSpace();
}

/** The space the selected model needs against the space free. */
async function updateSpace(): Promise<void> {
  const line = byId('space');
  const spec = selectedSpec();
  if (!spec) {
    line.textContent = 'Enter the URL of a checkpoint folder (config.json, tokenizer.json, *.safetensors).';
    return;
  }
  const [cached, estimate, needed] = await Promise.all([
    listCachedModels().catch(() => []),
    estimateStorage(),
    checkpointBytes(spec, accessToken.get() || null),
  ]);
  if (selectedSpec()?.url !== spec.url) return;
  const have = cached.find((m) => m.id === spec.url);
  const free = estimate ? `${formatBytes(estimate.free)} free` : 'free space unknown';
  const need = needed === null ? 'size unknown until it loads' : `needs up to ${formatBytes(needed)} (the whole checkpoint; text-only loads store less)`;
  line.textContent = `${have ? `Cached: ${formatBytes(have.bytes)}; ` : ''}${need}; ${free}.`;
  line.dataset.fits = String(needed === null || !estimate || needed - (have?.bytes ?? 0) <= estimate.free);
  if (line.dataset.fits === 'false') line.textContent += ' Not enough space: delete cached models below or free disk space first.';
}

async function load(spec: ModelSpec): Promise<void> {
  if (status === 'loading' || status === 'no-webgpu') return;
  chat.stop();
  // The model in use, kept if this load fails before the engine releases it.
  const previous = { spec: loaded, name: byId('model-name').textContent ?? '' };
  loaded = null;
  chat.setReady(false);
  attachments.setInputs(null);
  showMessage('');
  setStatus('loading');
  byId('model-name').textContent = `loading ${spec.label}…`;
  loadPanel.start();
  const token = accessToken.get();
  await client.setAccessToken(token || null);
  await client.watchTraffic((t) => loadPanel.onTraffic(t));
  try {
    const info = await client.engine.load({ model: spec.url, quant: sizeSelect.quant(), ...sizeSelect.loadOptions(), onProgress: (p) => loadPanel.progress(p) });
    loadPanel.finish(true);
    loaded = spec;
    lastModel.set(spec);
    const size = info.matformer ? ` (${info.matformer.name})` : '';
    byId('model-name').textContent = `${spec.label}${size}: ${info.numLayers} layers, up to ${info.maxContext.toLocaleString('en')} tokens of context`;
    setStatus('ready');
    chat.newChat();
    chat.setReady(true);
    attachments.setInputs(info.inputs);
    loadedInputs = info.inputs;
    describeChoice(spec.choice, spec);
    void refreshDevice();
  } catch (e) {
    loadPanel.finish(false);
    const kept = previous.spec !== null && (await client.engine.capabilities().catch(() => null))?.model != null;
    if (kept) {
      loaded = previous.spec;
      byId('model-name').textContent = previous.name;
      setStatus('ready');
      chat.setReady(true);
      attachments.setInputs(loadedInputs);
      showError(`${loadFailure(spec, e)} Still using ${previous.spec!.label}.`);
    } else {
      loadedInputs = null;
      byId('model-name').textContent = 'no model loaded';
      showError(loadFailure(spec, e));
      setStatus('error');
    }
  } finally {
    await client.watchTraffic(null);
    void storagePanel.refresh();
    void updateSpace();
  }
}

async function refreshDevice(): Promise<boolean> {
  try {
    const warning = showCapabilities(await client.engine.capabilities());
    if (warning && !messageEl.textContent) showMessage(warning);
    return true;
  } catch (e) {
    const detail = errorDetail(e);
    showNoDevice();
    showMessage(detail.code === 'NO_WEBGPU' || detail.code === 'NO_ADAPTER' ? NO_WEBGPU_HELP : `${detail.message} ${adviceFor(detail.code)}`);
    setStatus(detail.code === 'NO_WEBGPU' || detail.code === 'NO_ADAPTER' ? 'no-webgpu' : 'error');
    return false;
  }
}

let bundledText = '';

async function describeBundled(): Promise<boolean | null> {
  const info = byId('model-info');
  const tiny = await describeTiny();
  info.dataset.bundled = String(tiny.bundled);
  if (tiny.bundled) bundledText = tiny.text;
  else if (tiny.bundled === false) bundledText = 'The tiny model is not bundled in this build (its fixture folder was missing when it was built).';
  describeChoice(selectedChoice());
  return tiny.bundled;
}

/** The model line: what the chosen model is (the bundled tiny model's own numbers, a Hugging Face repository, a folder URL). */
function describeChoice(choice: ModelChoice, spec: ModelSpec | null = selectedSpec()): void {
  const info = byId('model-info');
  info.dataset.choice = choice;
  info.textContent = choice === 'tiny' ? bundledText : choice === 'tiny-matformer' ? (describeTinyMatformer() ?? bundledText) : describeModel(choice, spec);
}

/** What to open with: ?model= (none: nothing), else the last model if it is cached, else the bundled tiny model. */
async function initialModel(bundled: boolean | null): Promise<ModelSpec | null> {
  if (new URLSearchParams(location.search).get('model') === 'none') return null;
  const asked = specFromQuery(location.search);
  if (asked) return asked;
  const last = lastModel.get();
  const cached = await listCachedModels().catch(() => []);
  if (last && cached.some((m) => m.id === last.url)) return last;
  return bundled === false ? null : specFor('tiny');
}

form.addEventListener('change', syncForm);
customUrl.addEventListener('input', () => {
  describeChoice(selectedChoice());
  void updateSpace();
});
tokenInput.value = accessToken.get();
tokenInput.addEventListener('change', () => {
  accessToken.set(tokenInput.value.trim());
  void updateSpace();
});
form.addEventListener('submit', (e) => {
  e.preventDefault();
  const spec = selectedSpec();
  if (spec) void load(spec);
  else customUrl.focus();
});

setUpPwa();
void storagePanel.refresh();
const bundled = await describeBundled();
if (!('gpu' in navigator) || !navigator.gpu) {
  showNoDevice();
  showMessage(NO_WEBGPU_HELP);
  setStatus('no-webgpu');
} else {
  setStatus('idle');
  if (await refreshDevice()) {
    const first = await initialModel(bundled);
    if (first) {
      selectChoice(first, new URLSearchParams(location.search).get('slice'));
      await load(first);
    } else syncForm();
  }
}
