/**
 * MatFormer (Mix-n-Match) slicing of a Gemma 3n parent, spec §8: a slice drops whole decoder layers
 * and keeps a prefix of each kept layer's FFN units. This module validates a slicing configuration
 * against the parent and derives the sliced model's config, exactly as Google's MatFormer Lab
 * notebook does (the sliced config.json it writes parses to the same ModelConfig).
 */
import { kvSourceMap, type LayerType, type ModelConfig, type TextConfig } from '../config.ts';
import { SliceError } from '../errors.ts';

export { SliceError, type SliceErrorReason } from '../errors.ts';

/**
 * One slicing configuration, in the official `google/gemma3n-slicing-configs` convention:
 * `layersSkipped` are PARENT layer indices; `ffnHiddenDims[j]` is the width of the j-th kept
 * parent layer (= layer j of the sliced model), not indexed by parent layer.
 */
export interface SliceConfig {
  name: string;
  layersSkipped: number[];
  ffnHiddenDims: number[];
  /** The slice's stated layer count (`num_layers` / `# Layers`), checked against the parent when given. */
  numLayers?: number;
}


export interface SlicePlan {
  slice: SliceConfig;
  /** The sliced model's config, as parseConfig would make it of the sliced config.json. */
  config: ModelConfig;
  /** Parent index of each layer of the sliced model. */
  keptLayers: number[];
}

type Obj = Record<string, unknown>;

const isRecord = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

function intList(v: unknown, field: string, name: string): number[] {
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v) || !v.every(isInt)) {
    throw new SliceError('bad-format', `slice "${name}": ${field} must be a list of integers, got ${show(v)}. Fix the slicing configuration.`, { field });
  }
  return v.slice();
}

/**
 * A slicing-config JSON object (`name`, `num_layers`, `ffn_hidden_dims`, `layers_skipped`; other
 * fields such as `description` or `ffn_hidden_dims_by_parent_layer` are informational and ignored).
 */
export function parseSliceJson(json: unknown): SliceConfig {
  if (!isRecord(json)) throw new SliceError('bad-format', `a slicing configuration must be a JSON object, got ${show(json)}.`);
  const name = json.name;
  if (typeof name !== 'string' || name === '') throw new SliceError('bad-format', `a slicing configuration needs a non-empty "name", got ${show(name)}.`, { field: 'name' });
  if (json.ffn_hidden_dims === undefined || json.ffn_hidden_dims === null) {
    throw new SliceError('bad-format', `slice "${name}": "ffn_hidden_dims" is missing. List one FFN width per layer of the sliced model.`, { field: 'ffn_hidden_dims' });
  }
  const ffnHiddenDims = intList(json.ffn_hidden_dims, 'ffn_hidden_dims', name);
  const layersSkipped = intList(json.layers_skipped, 'layers_skipped', name);
  const slice: SliceConfig = { name, layersSkipped, ffnHiddenDims };
  if (json.num_layers !== undefined && json.num_layers !== null) {
    const n = json.num_layers;
    if (!isInt(n) || n < 1) throw new SliceError('bad-format', `slice "${name}": num_layers must be a positive integer, got ${show(n)}.`, { field: 'num_layers' });
    if (n !== ffnHiddenDims.length) {
      throw new SliceError('wrong-layer-count', `slice "${name}": num_layers is ${n} but ffn_hidden_dims lists ${ffnHiddenDims.length} widths (one per layer of the sliced model).`, { numLayers: n, widths: ffnHiddenDims.length });
    }
    slice.numLayers = n;
  }
  return slice;
}

/** Parent layers that some KV-sharing layer reads its K/V from (E4B: 18 and 19). */
export function kvProducers(text: TextConfig): number[] {
  return [...new Set(text.kvSource.filter((src, i) => src !== i))].sort((a, b) => a - b);
}

const HF_LAYER_TYPE: Record<LayerType, string> = { sliding: 'sliding_attention', full: 'full_attention' };

function checkSkips(parent: TextConfig, slice: SliceConfig): number[] {
  const L = parent.numLayers;
  const seen = new Set<number>();
  for (const i of slice.layersSkipped) {
    if (!isInt(i) || i < 0 || i >= L) {
      throw new SliceError('bad-skip', `slice "${slice.name}" skips layer ${show(i)}, but the parent has layers 0..${L - 1}.`, { layer: i });
    }
    if (seen.has(i)) throw new SliceError('bad-skip', `slice "${slice.name}" lists layer ${i} twice in layers_skipped.`, { layer: i });
    seen.add(i);
  }
  if (seen.size === L) throw new SliceError('bad-skip', `slice "${slice.name}" skips all ${L} layers of the parent.`);
  const producers = kvProducers(parent).filter((p) => seen.has(p));
  if (producers.length > 0) {
    throw new SliceError(
      'skips-kv-producer',
      `slice "${slice.name}" skips layer ${producers.join(', ')}, whose K/V cache later layers of the parent share (producers: ${kvProducers(parent).join(', ')}). Keep those layers.`,
      { layers: producers },
    );
  }
  return [...seen].sort((a, b) => a - b);
}

function checkWidths(parent: TextConfig, slice: SliceConfig, keptLayers: number[]): void {
  const N = keptLayers.length;
  if (slice.numLayers !== undefined && slice.numLayers !== N) {
    throw new SliceError('wrong-layer-count', `slice "${slice.name}" says num_layers ${slice.numLayers}, but the parent's ${parent.numLayers} layers less ${parent.numLayers - N} skipped leave ${N}.`, {
      numLayers: slice.numLayers,
      expected: N,
    });
  }
  if (slice.ffnHiddenDims.length !== N) {
    throw new SliceError('wrong-width-count', `slice "${slice.name}" lists ${slice.ffnHiddenDims.length} FFN widths for ${N} kept layers; give one width per layer of the sliced model.`, {
      widths: slice.ffnHiddenDims.length,
      expected: N,
    });
  }
  slice.ffnHiddenDims.forEach((w, j) => {
    const full = parent.intermediateSize[keptLayers[j]];
    if (w === full) return;
    if (!isInt(w) || w <= 0 || w % 32 !== 0) {
      throw new SliceError('width-not-multiple-of-32', `slice "${slice.name}": FFN width ${show(w)} of layer ${j} (parent layer ${keptLayers[j]}) is not a positive multiple of 32.`, { layer: j, width: w });
    }
    if (w > full) {
      throw new SliceError('width-too-large', `slice "${slice.name}": FFN width ${w} of layer ${j} exceeds the parent layer ${keptLayers[j]}'s width ${full}.`, { layer: j, width: w, parentWidth: full });
    }
  });
}

/** parent.raw with its text fields replaced by the sliced ones (nested text_config or a bare text config). */
function slicedRaw(raw: unknown, text: TextConfig): Obj {
  const fields = {
    num_hidden_layers: text.numLayers,
    intermediate_size: text.intermediateSize.slice(),
    num_kv_shared_layers: text.numKvSharedLayers,
    activation_sparsity_pattern: text.activationSparsity.slice(),
    layer_types: text.layerTypes.map((t) => HF_LAYER_TYPE[t]),
  };
  if (!isRecord(raw)) return { model_type: 'gemma3n_text', ...fields };
  const copy = structuredClone(raw);
  if (isRecord(copy.text_config)) Object.assign(copy.text_config, fields);
  else Object.assign(copy, fields);
  return copy;
}

/**
 * Validate `slice` against `parent` and derive the sliced model: kept layers renumbered in order,
 * FFN widths from the slice, num_kv_shared_layers less the skipped shared layers, the skipped
 * layers' sparsity entries dropped, the first N entries of the parent's layer-type pattern, and
 * the KV-source map recomputed by parseConfig's rule.
 */
export function planSlice(parent: ModelConfig, slice: SliceConfig): SlicePlan {
  const p = parent.text;
  const skipped = checkSkips(p, slice);
  const skippedSet = new Set(skipped);
  const keptLayers = Array.from({ length: p.numLayers }, (_, i) => i).filter((i) => !skippedSet.has(i));
  checkWidths(p, slice, keptLayers);

  const N = keptLayers.length;
  const firstShared = p.numLayers - p.numKvSharedLayers;
  const numKvSharedLayers = p.numKvSharedLayers - skipped.filter((i) => i >= firstShared).length;
  const layerTypes = p.layerTypes.slice(0, N);
  let kvSource: number[];
  try {
    kvSource = kvSourceMap(layerTypes, numKvSharedLayers);
  } catch {
    throw new SliceError(
      'no-kv-producer',
      `slice "${slice.name}" leaves a KV-sharing layer of the sliced model (${N} layers, the last ${numKvSharedLayers} sharing K/V, layer types the parent's first ${N}) with no earlier layer of its attention type to read K/V from. Skip whole aligned blocks of the layer-type pattern.`,
      { numKvSharedLayers },
    );
  }
  const text: TextConfig = {
    ...p,
    numLayers: N,
    intermediateSize: slice.ffnHiddenDims.slice(),
    layerTypes,
    numKvSharedLayers,
    activationSparsity: keptLayers.map((i) => p.activationSparsity[i]),
    kvSource,
  };
  const normalized: SliceConfig = { name: slice.name, layersSkipped: skipped, ffnHiddenDims: slice.ffnHiddenDims.slice(), numLayers: N };
  return { slice: normalized, config: { ...parent, text, raw: slicedRaw(parent.raw, text) }, keptLayers };
}
