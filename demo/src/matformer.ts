/**
 * The MatFormer configurations the demo offers per model and what each costs, as the engine answers
 * (matformerSizes of @g3n/engine): Gemma 3n E4B offers the 16 published configurations (spec §8); the
 * bundled tiny MatFormer parent offers its fixture's slicing configurations, read at build time. E2B,
 * the tiny model and custom URLs offer none.
 */
import { DEFAULT_MAX_CONTEXT, matformerSizes, sizeFigures as engineSizeFigures, type MatformerSize, type MatformerSizes, type SizeFigures, type WeightFormat } from '@g3n/engine';
import tinyMatformer from 'virtual:g3n-tiny-matformer';
import type { ModelChoice } from './models.ts';

/** Tokens of context the demo loads every model with (the engine's default), which sizes the KV caches. */
export const DEMO_CONTEXT = DEFAULT_MAX_CONTEXT;

export type MatformerFamily = MatformerSizes;
export type SizeOption = MatformerSize;
export type { SizeFigures };

const families = new Map<ModelChoice, MatformerFamily | null>();

function familyOf(choice: ModelChoice): MatformerFamily | null {
  if (choice === 'e4b') return matformerSizes('gemma-3n-e4b', { maxContext: DEMO_CONTEXT });
  return tinyMatformer ? matformerSizes(tinyMatformer, { maxContext: DEMO_CONTEXT }) : null;
}

/** The configurations `choice` offers; null for a model that is not a MatFormer parent the demo knows. */
export function matformerFamily(choice: ModelChoice): MatformerFamily | null {
  if (choice !== 'e4b' && choice !== 'tiny-matformer') return null;
  if (!families.has(choice)) families.set(choice, familyOf(choice));
  return families.get(choice) ?? null;
}

export function sizeFigures(family: MatformerFamily, option: SizeOption, quant: WeightFormat): SizeFigures {
  return engineSizeFigures(family, option, quant);
}

/** One line about the bundled tiny MatFormer parent; null when this build does not bundle it. */
export function describeTinyMatformer(): string | null {
  const parent = matformerFamily('tiny-matformer')?.parent;
  if (!parent) return null;
  return `gemma3n-tiny-matformer: a MatFormer parent of ${parent.numLayers} layers (FFN width ${parent.ffnWidth}), hidden size ${parent.hiddenSize}, vocabulary ${parent.vocabSize}; choose a size below. Random weights: its answers are gibberish tokens, which is expected.`;
}

const fold = (s: string): string => s.replaceAll('"', '').trim().toLowerCase();

/** The option named `name` (its name or an alias, ignoring case and double quotes). */
export function findOption(family: MatformerFamily, name: string): SizeOption | undefined {
  const key = fold(name);
  return family.sizes.find((o) => fold(o.slice.name) === key || o.aliases.some((a) => fold(a) === key));
}
