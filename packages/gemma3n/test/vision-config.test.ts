import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openModelDir } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { parseConfig } from '../src/config.ts';
import { parseVisionConfig } from '../src/vision/config.ts';
import { VisionTowerMissingError, checkImagePlaceholders, VisionInputError } from '../src/vision/errors.ts';
import { visionWeightTable, VISION_PREFIX } from '../src/vision/weights.ts';
import { FIXTURES } from './golden.ts';

const DIR = join(FIXTURES, 'gemma3n-tiny-vision-a');

describe('vision tower configuration and weight table', () => {
  it('mobilenetv5_300m_enc: 3 / 5 / 37 / 39 blocks, 256 soft tokens of the text width', async () => {
    const weights = await openModelDir(nodeFileSource(DIR));
    const vc = parseVisionConfig(parseConfig(weights.config))!;
    expect(vc.stages.map((s) => s.length)).toEqual([3, 5, 37, 39]);
    expect(vc.stages[2].filter((b) => b.type === 'mqa')).toHaveLength(14);
    expect(vc.stages[3].filter((b) => b.type === 'mqa')).toHaveLength(19);
    expect(vc.stages[2][9]).toEqual({ type: 'mqa', heads: 12, keyDim: 64, kvStride: 2, kvKernel: 3 });
    expect([vc.tokensPerImage, vc.outputResolution, vc.hiddenSize, vc.textHidden, vc.imageTokenId]).toEqual([256, 16, 2048, 64, 481]);
  });

  it('the table lists every tensor the tower reads, shapes from the checkpoint, and only those', async () => {
    const weights = await openModelDir(nodeFileSource(DIR));
    const vc = parseVisionConfig(parseConfig(weights.config))!;
    const table = visionWeightTable(vc, weights.tensors);
    const names = new Set(table.map((s) => s.name));
    const tower = [...weights.tensors.keys()].filter((n) => n.startsWith(VISION_PREFIX));
    expect(tower.filter((n) => !names.has(n))).toEqual([]);
    for (const s of table) expect(s.shape, s.name).toEqual([...weights.tensors.get(s.name)!.shape]);
    expect(table.find((s) => s.name.endsWith('blocks.2.9.attn.key.down_conv.weight'))?.role).toBe('conv4d');
    expect(table.find((s) => s.name.endsWith('blocks.1.0.layer_scale.gamma'))?.role).toBe('layer_scale');
    expect(table.find((s) => s.name === 'model.embed_vision.embedding_projection.weight')?.shape).toEqual([64, 2048]);
    const noStem = new Map<string, { shape: readonly number[] }>([...weights.tensors].filter(([n]) => !n.endsWith('conv_stem.conv.weight')));
    expect(() => visionWeightTable(vc, noStem)).toThrow(VisionTowerMissingError);
    const noBlock = new Map<string, { shape: readonly number[] }>([...weights.tensors].filter(([n]) => !n.includes('blocks.3.5.')));
    expect(() => visionWeightTable(vc, noBlock)).toThrow(/blocks\.3\.5\..* is missing/);
  });

  it('an unknown architecture is UNSUPPORTED_CONFIG; image placeholders must match the images', async () => {
    const weights = await openModelDir(nodeFileSource(DIR));
    const raw = structuredClone(weights.config) as { vision_config: { architecture: string } };
    raw.vision_config.architecture = 'mobilenetv4_conv_small';
    expect(() => parseVisionConfig(parseConfig(raw))).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_CONFIG' }));
    expect(() => checkImagePlaceholders([1, 481, 481, 2], 481, 2, 1)).not.toThrow();
    expect(() => checkImagePlaceholders([1, 481, 481, 2], 481, 2, 2)).toThrow(VisionInputError);
    expect(() => checkImagePlaceholders([1, 481, 2], 481, 2, 1)).toThrow(/holds 1 image placeholders/);
  });
});
