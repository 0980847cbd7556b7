/**
 * The models the demo offers: the bundled tiny model and tiny MatFormer parent, Gemma 3n E2B and E4B from their Hugging Face
 * repositories (gated: an optional access token), or any checkpoint folder URL. Also the choice's
 * `?model=` form, the remembered last choice and token (localStorage only), and the checkpoint's
 * size, for comparing with the free storage before a download starts.
 */
import { authHeaders } from '@g3n/embed';

export type ModelChoice = 'tiny' | 'tiny-matformer' | 'tiny-vision' | 'tiny-audio' | 'e2b' | 'e4b' | 'custom';

export interface ModelSpec {
  choice: ModelChoice;
  /** Absolute URL of the checkpoint folder, ending in '/'. */
  url: string;
  label: string;
}

export const TINY_URL = new URL(`${import.meta.env.BASE_URL}models/tiny/`, location.href).href;
export const TINY_MATFORMER_URL = new URL(`${import.meta.env.BASE_URL}models/tiny-matformer/`, location.href).href;
export const TINY_VISION_URL = new URL(`${import.meta.env.BASE_URL}models/tiny-vision/`, location.href).href;
export const TINY_AUDIO_URL = new URL(`${import.meta.env.BASE_URL}models/tiny-audio/`, location.href).href;

const REPOS: Record<'e2b' | 'e4b', { repo: string; label: string }> = {
  e2b: { repo: 'google/gemma-3n-E2B-it', label: 'Gemma 3n E2B' },
  e4b: { repo: 'google/gemma-3n-E4B-it', label: 'Gemma 3n E4B' },
};

const TOKEN_KEY = 'g3n.hf-token';
const LAST_KEY = 'g3n.last-model';

function folder(url: string): string {
  const abs = new URL(url, location.href).href;
  return abs.endsWith('/') ? abs : `${abs}/`;
}

export function hfUrl(repo: string): string {
  return `https://huggingface.co/${repo}/resolve/main/`;
}

/** The spec of a choice; `custom` needs a URL (null when it is missing or not http(s)). */
export function specFor(choice: ModelChoice, customUrl = ''): ModelSpec | null {
  if (choice === 'tiny') return { choice, url: TINY_URL, label: 'Tiny demo model' };
  if (choice === 'tiny-matformer') return { choice, url: TINY_MATFORMER_URL, label: 'Tiny MatFormer demo model' };
  if (choice === 'tiny-vision') return { choice, url: TINY_VISION_URL, label: 'Tiny vision demo model' };
  if (choice === 'tiny-audio') return { choice, url: TINY_AUDIO_URL, label: 'Tiny audio demo model' };
  if (choice === 'custom') {
    try {
      const url = new URL(customUrl.trim(), location.href);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
      return { choice, url: folder(url.href), label: url.href };
    } catch {
      return null;
    }
  }
  return { choice, url: hfUrl(REPOS[choice].repo), label: REPOS[choice].label };
}

/** `?model=tiny|tiny-matformer|tiny-vision|tiny-audio|e2b|e4b|<url>`, or null without the parameter. */
export function specFromQuery(search: string): ModelSpec | null {
  const value = new URLSearchParams(search).get('model');
  if (!value) return null;
  const key = value.toLowerCase();
  if (key === 'tiny' || key === 'tiny-matformer' || key === 'tiny-vision' || key === 'tiny-audio' || key === 'e2b' || key === 'e4b') return specFor(key);
  return specFor('custom', value);
}

function storage(): Storage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

export const accessToken = {
  get: (): string => storage()?.getItem(TOKEN_KEY) ?? '',
  set(token: string): void {
    if (token) storage()?.setItem(TOKEN_KEY, token);
    else storage()?.removeItem(TOKEN_KEY);
  },
};

export const lastModel = {
  get(): ModelSpec | null {
    try {
      const v = JSON.parse(storage()?.getItem(LAST_KEY) ?? 'null') as ModelSpec | null;
      return v && typeof v.url === 'string' && typeof v.choice === 'string' ? v : null;
    } catch {
      return null;
    }
  },
  set: (spec: ModelSpec): void => storage()?.setItem(LAST_KEY, JSON.stringify(spec)),
};

/** Never through the HTTP cache: a cached compressed body breaks the engine's later Range reads of the file. */
async function fetchOk(url: string, init: RequestInit): Promise<Response | null> {
  try {
    const res = await fetch(url, { ...init, cache: 'no-store' });
    return res.ok ? res : null;
  } catch {
    return null;
  }
}

/**
 * The checkpoint's size in bytes: the index's metadata.total_size, or the single file's length;
 * null when neither is reachable (offline, gated without a token, CORS).
 */
export async function checkpointBytes(spec: ModelSpec, token: string | null): Promise<number | null> {
  const headers = authHeaders(spec.url, token);
  const index = await fetchOk(`${spec.url}model.safetensors.index.json`, { headers });
  if (index) {
    const total = ((await index.json().catch(() => null)) as { metadata?: { total_size?: unknown } } | null)?.metadata?.total_size;
    if (typeof total === 'number') return total;
  }
  const single = await fetchOk(`${spec.url}model.safetensors`, { method: 'HEAD', headers });
  const length = Number(single?.headers.get('content-length') ?? NaN);
  return Number.isFinite(length) && length > 0 ? length : null;
}

/** One line about a model other than the bundled tiny one (whose line comes from its config: describeTiny). */
export function describeModel(choice: ModelChoice, spec: ModelSpec | null): string {
  switch (choice) {
    case 'tiny-vision':
      return 'gemma3n-tiny-vision-a: a tiny text model with a MobileNet-V5 vision tower (images resized to 128 x 128, 256 soft tokens each). Random weights: answers are gibberish tokens.';
    case 'tiny-audio':
      return 'gemma3n-tiny-audio-a: a tiny text model with an audio conformer (16 kHz clips, log-mel features). Random weights: answers are gibberish tokens.';
    case 'e2b':
    case 'e4b':
      return `${REPOS[choice].label} from Hugging Face (${REPOS[choice].repo}): Google's instruction-tuned Gemma 3n, ${choice === 'e2b' ? 'about 2B' : 'about 4B'} effective parameters, text, images and audio. Gated: it needs an access token of an account that accepted the license; downloaded once, then kept in this browser.`;
    case 'custom':
      return spec
        ? `A checkpoint folder at ${spec.url}: a Hugging Face layout (config.json, tokenizer.json, *.safetensors) or a g3n artifact (manifest.json and its shards). Its server must allow this page to read it (CORS).`
        : 'Enter the URL of a checkpoint folder.';
    default:
      return '';
  }
}

export type TinyInfo = { bundled: true; text: string } | { bundled: false } | { bundled: null };

/** Whether this build bundles the tiny model, with a one-line description; bundled: null when offline. */
export async function describeTiny(): Promise<TinyInfo> {
  let res: Response;
  try {
    res = await fetch(`${TINY_URL}config.json`, { cache: 'no-store' });
  } catch {
    return { bundled: null };
  }
  const text = res.ok ? ((await res.json().catch(() => null)) as { text_config?: Record<string, number> } | null)?.text_config : null;
  if (!text) return { bundled: false };
  return {
    bundled: true,
    text: `gemma3n-tiny-a: ${text.num_hidden_layers} layers, hidden size ${text.hidden_size}, vocabulary ${text.vocab_size}. Random weights: its answers are gibberish tokens, which is expected.`,
  };
}
