/**
 * The vision tower's tensor shapes at the published widths (spec §4.3, §7.2) divided by a scale, a
 * config.json that names that tower, and the multiply-adds of one encode counted from the shapes
 * (spec §4.6: ~436 GMAC per 768 x 768 image at scale 1), grouped by block kind.
 */
import { VISION_ARCHITECTURES, type VisionBlock } from '@g3n/gemma3n';
import { towerHostTextConfig } from './tower-config.ts';

const V = 'model.vision_tower.timm_model.';
const E = 'model.embed_vision.';

/** Scales at which every published width (and the MQA key dims 64 and 96) divides exactly. */
export const VISION_SCALES = [1, 2, 4, 8, 16, 32] as const;

/** Output channels of each stage, the stem's, and the fusion adapter's (spec §4.3, §4.4). */
const STAGE_OUT = [128, 256, 640, 1280];
const STEM = 64;
const MQA_DIMS: Record<number, { heads: number; keyDim: number }> = { 2: { heads: 12, keyDim: 64 }, 3: { heads: 16, keyDim: 96 } };

/** Expansion of block j of stage i (spec §4.3): ER 4, a stage's strided first UIR 6, UIR with dw_start 4, 2.8 1, the other no-dw UIRs 2. */
function expansion(i: number, j: number, b: VisionBlock): number {
  if (b.type === 'er') return 4;
  if (b.type !== 'uir') return 0;
  if (b.stride === 2) return 6;
  if (b.start) return 4;
  return i === 2 && j === 8 ? 1 : 2;
}

function check(scale: number): void {
  if (!(VISION_SCALES as readonly number[]).includes(scale)) throw new Error(`vision scale must be one of ${VISION_SCALES.join(', ')}, got ${scale}`);
}

/** A Gemma 3n config.json whose vision tower and text hidden size are the published ones divided by `scale`. */
export function syntheticVisionConfigJson(scale: number): Record<string, unknown> {
  check(scale);
  return {
    model_type: 'gemma3n',
    text_config: towerHostTextConfig(2048 / scale),
    vision_config: { architecture: 'mobilenetv5_300m_enc', hidden_size: 2048 / scale, rms_norm_eps: 1e-6 },
    image_token_id: 262_145,
    vision_soft_tokens_per_image: 256,
  };
}

/** Every tensor of the tower and its soft-token path (name -> shape), widths divided by `scale`. */
export function visionTensorShapes(scale: number): Map<string, number[]> {
  check(scale);
  const d = (n: number) => n / scale;
  const out = new Map<string, number[]>();
  const put = (name: string, shape: number[]) => out.set(name, shape);
  put(`${V}conv_stem.conv.weight`, [d(STEM), 3, 3, 3]);
  put(`${V}conv_stem.conv.bias`, [d(STEM)]);
  put(`${V}conv_stem.bn.weight`, [d(STEM)]);
  let c = d(STEM);
  VISION_ARCHITECTURES.mobilenetv5_300m_enc.forEach((stage, i) =>
    stage.forEach((b, j) => {
      const p = `${V}blocks.${i}.${j}.`;
      const o = d(STAGE_OUT[i]);
      if (b.type === 'er') {
        const mid = c * expansion(i, j, b);
        put(`${p}conv_exp.weight`, [mid, c, b.kernel, b.kernel]);
        put(`${p}bn1.weight`, [mid]);
        put(`${p}conv_pwl.weight`, [o, mid, 1, 1]);
        put(`${p}bn2.weight`, [o]);
      } else if (b.type === 'uir') {
        const mid = c * expansion(i, j, b);
        if (b.start) {
          put(`${p}dw_start.conv.weight`, [c, 1, b.start, b.start]);
          put(`${p}dw_start.bn.weight`, [c]);
        }
        put(`${p}pw_exp.conv.weight`, [mid, c, 1, 1]);
        put(`${p}pw_exp.bn.weight`, [mid]);
        if (b.mid) {
          put(`${p}dw_mid.conv.weight`, [mid, 1, b.mid, b.mid]);
          put(`${p}dw_mid.bn.weight`, [mid]);
        }
        put(`${p}pw_proj.conv.weight`, [o, mid, 1, 1]);
        put(`${p}pw_proj.bn.weight`, [o]);
        put(`${p}layer_scale.gamma`, [o]);
      } else {
        const { heads, keyDim } = MQA_DIMS[i];
        const kd = d(keyDim);
        put(`${p}norm.weight`, [c]);
        put(`${p}attn.query.proj.weight`, [heads * kd, c, 1, 1]);
        for (const kv of ['key', 'value']) {
          if (b.kvStride > 1) {
            put(`${p}attn.${kv}.down_conv.weight`, [c, 1, b.kvKernel, b.kvKernel]);
            put(`${p}attn.${kv}.norm.weight`, [c]);
          }
          put(`${p}attn.${kv}.proj.weight`, [kd, c, 1, 1]);
        }
        put(`${p}attn.output.proj.weight`, [c, heads * kd, 1, 1]);
        put(`${p}layer_scale.gamma`, [c]);
      }
      c = o;
    }),
  );
  const cat = d(STAGE_OUT[2] + STAGE_OUT[3]);
  put(`${V}msfa.ffn.pw_exp.conv.weight`, [2 * cat, cat, 1, 1]);
  put(`${V}msfa.ffn.pw_exp.bn.weight`, [2 * cat]);
  put(`${V}msfa.ffn.pw_proj.conv.weight`, [d(2048), 2 * cat, 1, 1]);
  put(`${V}msfa.ffn.pw_proj.bn.weight`, [d(2048)]);
  put(`${V}msfa.norm.weight`, [d(2048)]);
  put(`${E}soft_embedding_norm.weight`, [d(2048)]);
  put(`${E}embedding_projection.weight`, [d(2048), d(2048)]);
  return out;
}

/** Kinds of work the encode's time and multiply-adds are grouped by. */
export const VISION_KINDS = ['stem', 'edge_residual', 'uir_depthwise', 'uir_pointwise', 'mqa', 'msfa', 'embedder'] as const;
export type VisionKind = (typeof VISION_KINDS)[number];

/** The kind of block j of stage i: EdgeResidual, UIR with a depthwise conv, UIR without (an FFN), MQA. */
export function blockKind(b: VisionBlock): VisionKind {
  if (b.type === 'er') return 'edge_residual';
  if (b.type === 'mqa') return 'mqa';
  return b.start || b.mid ? 'uir_depthwise' : 'uir_pointwise';
}

/** The kind a tensor's name belongs to (null for a name outside the tower). */
export function kindOfTensor(name: string): VisionKind | null {
  if (name.startsWith(E)) return 'embedder';
  if (!name.startsWith(V)) return null;
  const rest = name.slice(V.length);
  if (rest.startsWith('conv_stem.')) return 'stem';
  if (rest.startsWith('msfa.')) return 'msfa';
  const m = /^blocks\.(\d+)\.(\d+)\./.exec(rest);
  const b = m ? VISION_ARCHITECTURES.mobilenetv5_300m_enc[Number(m[1])]?.[Number(m[2])] : undefined;
  return b ? blockKind(b) : null;
}

/** Multiply-adds of one encode of a `height` x `width` image (convolutions, 1x1s, attention), per kind. */
export function visionMacs(shapes: ReadonlyMap<string, number[]>, height: number, width: number): Record<VisionKind, number> {
  const macs = Object.fromEntries(VISION_KINDS.map((k) => [k, 0])) as Record<VisionKind, number>;
  const S = (name: string) => shapes.get(name) ?? [];
  const has = (name: string) => shapes.has(name);
  let [h, w] = [height, width];
  const conv = (kind: VisionKind, name: string, inH: number, inW: number, stride: number): [number, number] => {
    const [o, icg, kh, kw] = S(name);
    const [oh, ow] = [Math.ceil(inH / stride), Math.ceil(inW / stride)];
    macs[kind] += oh * ow * o * icg * kh * kw;
    return [oh, ow];
  };
  const pw = (kind: VisionKind, name: string, pixels: number) => {
    const [o, i] = S(name);
    macs[kind] += pixels * o * i;
  };
  [h, w] = conv('stem', `${V}conv_stem.conv.weight`, h, w, 2);
  const feats: Array<[number, number]> = [];
  VISION_ARCHITECTURES.mobilenetv5_300m_enc.forEach((stage, i) => {
    stage.forEach((b, j) => {
      const p = `${V}blocks.${i}.${j}.`;
      const kind = blockKind(b);
      if (b.type === 'er') {
        [h, w] = conv(kind, `${p}conv_exp.weight`, h, w, b.stride);
        pw(kind, `${p}conv_pwl.weight`, h * w);
      } else if (b.type === 'uir') {
        if (b.start) conv(kind, `${p}dw_start.conv.weight`, h, w, b.mid ? 1 : b.stride);
        const [inH, inW] = [h, w];
        pw(kind, `${p}pw_exp.conv.weight`, inH * inW);
        if (b.mid) [h, w] = conv(kind, `${p}dw_mid.conv.weight`, h, w, b.stride);
        pw(kind, `${p}pw_proj.conv.weight`, h * w);
      } else {
        const N = h * w;
        pw(kind, `${p}attn.query.proj.weight`, N);
        let M = N;
        for (const kv of ['key', 'value']) {
          if (has(`${p}attn.${kv}.down_conv.weight`)) {
            const [kh, kw] = conv(kind, `${p}attn.${kv}.down_conv.weight`, h, w, b.kvStride);
            M = kh * kw;
          }
          pw(kind, `${p}attn.${kv}.proj.weight`, M);
        }
        const q = S(`${p}attn.query.proj.weight`)[0];
        macs[kind] += 2 * N * M * q; // Q K^T and P V over every head
        pw(kind, `${p}attn.output.proj.weight`, N);
      }
    });
    if (i >= 2) feats.push([h, w]);
  });
  const [fh, fw] = feats[0];
  pw('msfa', `${V}msfa.ffn.pw_exp.conv.weight`, fh * fw);
  pw('msfa', `${V}msfa.ffn.pw_proj.conv.weight`, fh * fw);
  pw('embedder', `${E}embedding_projection.weight`, 256);
  return macs;
}
