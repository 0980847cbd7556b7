/**
 * The device panel: the WebGPU adapter the engine Worker got, its optional features and key
 * limits, the loaded model's memory estimate and MatFormer configuration (which one, and why), and
 * what to do when WebGPU is missing or too small.
 */
import type { EngineCapabilities } from '@g3n/engine';
import { byId, el, formatBytes } from './format.ts';

type Features = EngineCapabilities['features'];
type Limits = EngineCapabilities['limits'];

const FEATURES: Array<[string, keyof Features, string]> = [
  ['shader-f16', 'shaderF16', 'f16 math in shaders'],
  ['subgroups', 'subgroups', 'faster reductions'],
  ['timestamp-query', 'timestampQuery', 'kernel profiling'],
];
const LIMITS: Array<[string, keyof Limits, boolean]> = [
  ['Largest buffer', 'maxBufferSize', true],
  ['Largest storage binding', 'maxStorageBufferBindingSize', true],
  ['Workgroup storage', 'maxComputeWorkgroupStorageSize', true],
  ['Invocations per workgroup', 'maxComputeInvocationsPerWorkgroup', false],
  ['Workgroups per dimension', 'maxComputeWorkgroupsPerDimension', false],
];

/** Below this storage binding size the full models' split tables get too many pieces to be practical. */
const SMALL_BINDING = 128 * 2 ** 20;

/** What a user can do when WebGPU is missing: the message shown for NO_WEBGPU / NO_ADAPTER. */
export const NO_WEBGPU_HELP =
  'WebGPU is not available here, so g3n cannot run. Use a browser with WebGPU: a current Chrome or Edge on Windows, macOS, ChromeOS or Android; Safari 26 or newer; or Firefox with WebGPU enabled. On Linux, Chrome may need chrome://flags/#enable-unsafe-webgpu.';

export function showCapabilities(caps: EngineCapabilities): string | null {
  const { vendor, architecture, device, description } = caps.adapter;
  const name = description || [vendor, architecture, device].filter(Boolean).join(' ') || 'unnamed adapter';
  byId('adapter').textContent = caps.isSoftware ? `${name} (software adapter: correct but slow; speed figures are not meaningful)` : name;
  byId('features').replaceChildren(
    ...FEATURES.map(([label, key, use]) => {
      const on = caps.features[key];
      return el('li', `${label}: ${on ? 'available' : 'not available'} (${use})`, { 'data-feature': label, 'data-available': String(on) });
    }),
  );
  byId('limits').replaceChildren(
    ...LIMITS.flatMap(([label, key, bytes]) => [el('dt', label), el('dd', bytes ? formatBytes(caps.limits[key]) : caps.limits[key].toLocaleString('en'))]),
  );
  const memory = byId('memory');
  const model = caps.model;
  if (!model) memory.textContent = 'no model loaded';
  else {
    const m = model.memory;
    const budget = m.budgetBytes === null ? 'this browser does not report the device memory' : `the device reports about ${formatBytes(m.budgetBytes)} for the GPU`;
    memory.textContent = `${formatBytes(m.totalBytes)} (weights ${formatBytes(m.weightBytes)}, caches ${formatBytes(m.cacheBytes)}); ${budget}${caps.fits === false ? ': it may not fit' : ''}.`;
  }
  const slice = model?.matformer ?? null;
  byId('matformer').textContent = !model ? 'no model loaded' : slice ? `${slice.name}: ${slice.reason}` : 'the whole model (no MatFormer slice)';
  if (caps.limits.maxStorageBufferBindingSize < SMALL_BINDING) {
    return `This GPU allows storage bindings of only ${formatBytes(caps.limits.maxStorageBufferBindingSize)}: the full Gemma 3n models may fail to load here. The tiny model works; for E2B or E4B try another browser or a device with a larger GPU.`;
  }
  return null;
}

export function showNoDevice(): void {
  byId('adapter').textContent = 'none';
  byId('features').replaceChildren();
  byId('limits').replaceChildren();
}

/** The advice for an error the engine raised, by its stable code. */
export function adviceFor(code: string | null): string {
  switch (code) {
    case 'NO_WEBGPU':
    case 'NO_ADAPTER':
      return NO_WEBGPU_HELP;
    case 'LIMIT_TOO_SMALL':
    case 'OUT_OF_MEMORY':
    case 'MISSING_FEATURE':
      return 'This GPU is too small for this model. Try a smaller model (E2B instead of E4B, or the bundled tiny model), close other GPU-heavy tabs, or use a device with more GPU memory.';
    case 'DEVICE_LOST':
      return 'The GPU was reset. Load the model again: it comes from the cache without downloading.';
    case 'QUOTA_EXCEEDED':
      return 'The browser has no room to store the model. Delete cached models below or free disk space, then load again.';
    case 'NETWORK':
      return 'The model could not be downloaded. Check the connection and the URL; the Gemma repositories on Hugging Face are gated and need an access token of an account that accepted the license.';
    default:
      return '';
  }
}
