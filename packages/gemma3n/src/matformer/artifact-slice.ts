/**
 * A MatFormer slice read from a g3n artifact in its stored layout, so that nothing else is read or
 * fetched. For every tensor the sliced model loads, the selection of the parent's stored tensor
 * (@g3n/weights ranges.ts) that is it, exactly (Q8/Q4 data and scales moved group by group):
 *   layers.{j}.*                           <- parent layers.{keptLayers[j]}.*; skipped layers: nothing
 *   mlp.gate_proj / mlp.up_proj [I, D]     -> rows [0, w_j): a data prefix and a scale prefix
 *   mlp.down_proj, column-blocks [D, I]    -> its first w_j / 32 column blocks: one prefix again
 *   mlp.down_proj, row-major               -> every row, elements [0, w_j)
 *   embed_tokens_per_layer [V, L*P]        -> every row, the kept layers' P-element runs: layer-major,
 *                                             one range per kept layer (row-major in artifacts of minor
 *                                             < 2: one strided range per run of consecutive kept layers)
 *   per_layer_model_projection [L*P, H]    -> the kept layers' P-row runs
 *   anything else                          -> whole
 * The tensors are those of the sliced config's weight table that the model reads: the KV-sharing
 * layers' unused k/v projections and k_norm are left out, an embedder is read when the parent has it.
 * A tensor of more stored bytes than a block holds is read in blocks (@g3n/weights blocks.ts).
 */
import { CheckpointError, dataBytes, scaleWordBytes, selectionBytes, selectionShape, wholeSelection } from '@g3n/weights';
import type { BlockOptions, ShardProgress, Manifest, ManifestTensor, NamedSelection, PrefetchReport, TensorBlock, TensorSelection } from '@g3n/weights';
import type { ModelConfig } from '../config.ts';
import type { TensorData } from '../gpu-weights.ts';
import type { OpenBlocks } from '../upload-blocks.ts';
import { textWeightTable } from '../weight-table.ts';
import { parentTensorName, slicedShape, sliceRuns, transformOf } from './reader.ts';
import { SliceError, type SlicePlan } from './slice.ts';

/** Weights that can be read by selection: any g3n artifact (openModelDir, loadArtifact, openArtifactRanges). */
export interface SelectableWeights {
  manifest: Manifest;
  readSelection(name: string, selection: TensorSelection): Promise<TensorData>;
  /** Present on an artifact read by HTTP ranges: make these selections local before reading them. */
  prefetch?(selections: readonly NamedSelection[], options?: { onProgress?: (p: ShardProgress) => void; signal?: AbortSignal }): Promise<PrefetchReport>;
  /** A selection in blocks (every g3n artifact; without it, tensors are read whole). */
  readBlocks?(name: string, options?: BlockOptions): AsyncIterable<TensorBlock>;
}

export function isSelectable(w: object): w is SelectableWeights {
  return 'manifest' in w && typeof (w as { readSelection?: unknown }).readSelection === 'function';
}

/** One tensor of the (sliced) model and where it lies in the artifact. */
export interface ArtifactSliceTensor {
  /** The name the model reads (sliced numbering). */
  name: string;
  /** The parent tensor it is cut from. */
  parent: string;
  selection: TensorSelection;
  /** Stored bytes of the selection (data and scales). */
  bytes: number;
}

/** The selection of the parent's stored tensor `t` that is the sliced model's tensor `name`. */
export function sliceSelection(plan: SlicePlan, name: string, t: ManifestTensor): TensorSelection {
  const tr = transformOf(plan, name);
  const want = slicedShape(plan, name, t.shape);
  if (tr.kind === 'whole') return wholeSelection(t);
  const sel: TensorSelection = tr.kind === 'cols' && t.layout === 'column-blocks' ? { units: [[0, tr.width / 32]] } : sliceRuns(plan, name, t.shape);
  const got = selectionShape(t, sel);
  if (got.join() !== want.join()) {
    throw new SliceError('tensor-shape', `"${t.name}" stored as ${t.layout} [${t.shape.join(', ')}] cannot give the sliced [${want.join(', ')}] (the selection gives [${got.join(', ')}]).`, { tensor: t.name });
  }
  return sel;
}

/**
 * Every tensor the model of `plan` (or, with no plan, the parent itself) loads from the artifact,
 * with its selection: the slice's bytes are the sum of `bytes`.
 */
export function artifactSliceTensors(parent: ModelConfig, plan: SlicePlan | null, manifest: Manifest): ArtifactSliceTensor[] {
  const byName = new Map(manifest.tensors.map((t) => [t.name, t]));
  const parentOf = (name: string) => (plan ? parentTensorName(plan, name) : name);
  const table = textWeightTable(plan ? plan.config : parent);
  const stages = new Set(table.filter((s) => s.stage !== 'text' && byName.has(parentOf(s.name) ?? '')).map((s) => s.stage));
  const out: ArtifactSliceTensor[] = [];
  for (const s of table) {
    if (!s.required && !(s.stage !== 'text' && stages.has(s.stage))) continue;
    const p = parentOf(s.name);
    const t = p === undefined ? undefined : byName.get(p);
    if (!t || p === undefined) throw new CheckpointError('missing-tensor', `The artifact ${manifest.model.id}@${manifest.model.revision} has no tensor "${p ?? s.name}", which the model needs.`, { tensor: p ?? s.name });
    const selection = plan ? sliceSelection(plan, s.name, t) : wholeSelection(t);
    out.push({ name: s.name, parent: p, selection, bytes: selectionBytes(t, selection) });
  }
  return out;
}

/** Bytes of the artifact a slice (or, with no plan, the whole text model) reads. */
export function artifactSliceBytes(parent: ModelConfig, plan: SlicePlan | null, manifest: Manifest): number {
  return artifactSliceTensors(parent, plan, manifest).reduce((a, t) => a + t.bytes, 0);
}

export interface ArtifactSliceReader {
  /** Every tensor the model loads, with its selection and stored bytes. */
  tensors: ArtifactSliceTensor[];
  has(name: string): boolean;
  /** Fetch all of `tensors` first where the artifact reads by HTTP ranges (null where it does not). */
  prefetch(onProgress?: (p: ShardProgress) => void): Promise<PrefetchReport | null>;
  /** One tensor of the (sliced) model, by its name in the model. */
  read(name: string): Promise<TensorData>;
  /** Its blocks where its stored bytes exceed `maxBytes` and the artifact reads blocks; null to read it whole. */
  blocks(name: string, maxBytes: number): OpenBlocks | null;
}

/** The sliced model's tensors, read from the artifact by selection (prefetched first where the artifact fetches by ranges). */
export function artifactSliceReader(parent: ModelConfig, plan: SlicePlan | null, weights: SelectableWeights): ArtifactSliceReader {
  const tensors = artifactSliceTensors(parent, plan, weights.manifest);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const stored = new Map(weights.manifest.tensors.map((t) => [t.name, t]));
  const locate = (name: string): ArtifactSliceTensor | undefined => {
    const known = byName.get(name);
    if (known) return known;
    const p = plan ? parentTensorName(plan, name) : name;
    const t = p === undefined ? undefined : stored.get(p);
    if (!t || p === undefined) return undefined;
    const selection = plan ? sliceSelection(plan, name, t) : wholeSelection(t);
    return { name, parent: p, selection, bytes: selectionBytes(t, selection) };
  };
  return {
    tensors,
    has: (name) => locate(name) !== undefined,
    async prefetch(onProgress) {
      if (!weights.prefetch) return null;
      return weights.prefetch(
        tensors.map((t) => ({ name: t.parent, selection: t.selection })),
        { onProgress },
      );
    },
    blocks(name, maxBytes) {
      const e = locate(name);
      const readBlocks = weights.readBlocks?.bind(weights);
      if (!e || !readBlocks || e.bytes <= maxBytes) return null;
      return (wholeRows) => readBlocks(e.parent, { selection: e.selection, maxBytes, wholeRows });
    },
    async read(name) {
      const e = locate(name);
      if (!e) throw new CheckpointError('missing-tensor', `The artifact has no tensor for "${name}" of the ${plan ? `slice "${plan.slice.name}"` : 'model'}.`, { tensor: name });
      const t = stored.get(e.parent) as ManifestTensor;
      const data = await weights.readSelection(e.parent, e.selection);
      const n = selectionShape(t, e.selection).reduce((a, b) => a * b, 1);
      const quant = data.dtype === 'Q8' || data.dtype === 'Q4';
      if (data.bytes.length !== dataBytes(t.dtype, n) || (quant && data.scales.length !== scaleWordBytes(n))) {
        throw new CheckpointError('size-mismatch', `"${e.parent}" read ${data.bytes.length} bytes for ${n} ${t.dtype} elements of "${name}".`, { tensor: e.parent });
      }
      return data;
    },
  };
}
