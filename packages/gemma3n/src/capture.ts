/**
 * The named intermediates a stage can capture (its golden file's names), declared once per stage as a
 * sheet: each entry a name pattern and the elements that intermediate holds for one pass, from the
 * stage's config and sizes (tokens, pixels, frames). The text decoder's sheet is TEXT_CAPTURES
 * (context.ts); a tower declares its own with its config and sizes types.
 */
import { G3nError } from '@g3n/gpu';

export interface CaptureEntry<C, S> {
  pattern: RegExp;
  /** Elements for one pass; null where the match names nothing of this config (a layer it lacks). */
  elements: (cfg: C, sizes: S, match: RegExpExecArray) => number | null;
}

export type CaptureSheet<C, S> = readonly CaptureEntry<C, S>[];

/** Elements of the intermediate `name` under `sheet`; BAD_INPUT for a name the sheet does not declare. */
export function captureSize<C, S>(sheet: CaptureSheet<C, S>, cfg: C, name: string, sizes: S): number {
  for (const e of sheet) {
    const m = e.pattern.exec(name);
    const n = m ? e.elements(cfg, sizes, m) : null;
    if (n !== null) return n;
  }
  throw new G3nError('BAD_INPUT', `unknown intermediate '${name}'`);
}
