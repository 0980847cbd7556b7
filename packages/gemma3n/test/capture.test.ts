/** Capture sheets: the text decoder's intermediates and their sizes, and a stage's own sheet through the same lookup. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { captureSize, type CaptureSheet } from '../src/capture.ts';
import { captureElements, TEXT_CAPTURES } from '../src/context.ts';
import { parseConfig } from '../src/config.ts';
import { AUDIO_CAPTURES, parseAudioConfig } from '../src/audio/index.ts';
import { parseVisionConfig } from '../src/vision/config.ts';
import { VISION_CAPTURE_SHEET } from '../src/vision/tower.ts';

const DIR = join(import.meta.dirname, '../../../../shared/fixtures/gemma3n-tiny-a');
const c = parseConfig(JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8'))).text;

describe('capture sheets', () => {
  it('the text decoder: every golden name kind, sized for T tokens', () => {
    const T = 7;
    const D = c.hiddenSize;
    expect(captureElements(c, 'per_layer_inputs', T)).toBe(T * c.numLayers * c.hiddenSizePerLayerInput);
    expect(captureElements(c, 'altup_init', T)).toBe(c.altupNumInputs * T * D);
    expect(captureElements(c, 'layers.3.output', T)).toBe(c.altupNumInputs * T * D);
    expect(captureElements(c, 'logits', T)).toBe(T * c.vocabSize);
    for (const n of ['inputs_embeds', 'final_hidden', 'layers.0.attn_out', 'layers.2.mlp_out']) expect(captureElements(c, n, T), n).toBe(T * D);
    const l = c.numLayers - 1;
    expect(captureElements(c, `layers.${l}.mlp_gate`, T)).toBe(T * c.intermediateSize[l]);
    for (const bad of [`layers.${c.numLayers}.mlp_gate`, 'layers.x.output', 'logits2', 'vision_tower.stage0']) {
      expect(() => captureElements(c, bad, T), bad).toThrow(`unknown intermediate '${bad}'`);
    }
    expect(TEXT_CAPTURES.length).toBe(5);
  });

  it('a stage declares its own sheet over its config and sizes', () => {
    const sheet: CaptureSheet<{ channels: number[] }, { pixels: number }> = [
      { pattern: /^tower\.stage(\d)$/, elements: (cfg, { pixels }, m) => (Number(m[1]) < cfg.channels.length ? pixels * cfg.channels[Number(m[1])] : null) },
    ];
    expect(captureSize(sheet, { channels: [8, 16] }, 'tower.stage1', { pixels: 9 })).toBe(144);
    expect(() => captureSize(sheet, { channels: [8, 16] }, 'tower.stage2', { pixels: 9 })).toThrow("unknown intermediate 'tower.stage2'");
  });

  it('the towers: audio from its config and frame counts, vision from the recorded maps', () => {
    const fixture = (name: string) => parseConfig(JSON.parse(readFileSync(join(DIR, '..', name, 'config.json'), 'utf8')));
    const a = parseAudioConfig(fixture('gemma3n-tiny-audio-a'));
    const sizes = { frames: 13, reduced: 4 };
    expect(captureSize(AUDIO_CAPTURES, a, 'audio_encoder.sscp_out', sizes)).toBe(13 * a.hiddenSize);
    expect(captureSize(AUDIO_CAPTURES, a, `audio_encoder.conformer.${a.numLayers - 1}.output`, sizes)).toBe(13 * a.hiddenSize);
    expect(captureSize(AUDIO_CAPTURES, a, 'audio_encoder.last_hidden_state', sizes)).toBe(4 * a.hiddenSize);
    expect(captureSize(AUDIO_CAPTURES, a, 'audio_encoder.mask_valid', sizes)).toBe(4);
    expect(captureSize(AUDIO_CAPTURES, a, 'audio_soft_tokens', sizes)).toBe(a.softTokens * a.textHiddenSize);
    for (const bad of [`audio_encoder.conformer.${a.numLayers}.output`, 'audio_encoder.sscp', 'logits']) expect(() => captureSize(AUDIO_CAPTURES, a, bad, sizes), bad).toThrow(`unknown intermediate '${bad}'`);

    const v = parseVisionConfig(fixture('gemma3n-tiny-vision-a'))!;
    const maps = new Map([
      ['vision_tower.stem', { h: 8, w: 6, c: 16 }],
      ['vision_tower.stage3', { h: 2, w: 2, c: 40 }],
    ]);
    expect(captureSize(VISION_CAPTURE_SHEET, v, 'vision_tower.stem', { maps, tokens: 4 })).toBe(8 * 6 * 16);
    expect(captureSize(VISION_CAPTURE_SHEET, v, 'vision_tower.stem_first4ch', { maps, tokens: 4 })).toBe(8 * 6 * 4);
    expect(captureSize(VISION_CAPTURE_SHEET, v, 'vision_tower.stage3', { maps, tokens: 4 })).toBe(160);
    expect(captureSize(VISION_CAPTURE_SHEET, v, 'vision_soft_tokens', { maps, tokens: 4 })).toBe(4 * v.textHidden);
    for (const bad of ['vision_tower.stage4', 'vision_tower.blocks.0', 'inputs_embeds']) expect(() => captureSize(VISION_CAPTURE_SHEET, v, bad, { maps, tokens: 4 }), bad).toThrow(`unknown intermediate '${bad}'`);
  });
});
