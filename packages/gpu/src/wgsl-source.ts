/**
 * The one preprocessing step WGSL files get before they are compiled (in defineKernel), written as
 * comments so that every file stays valid WGSL on its own (ggml-webgpu's small preprocessor, with the
 * defaults in the file):
 *
 *   // #include "weight_formats.wgsl"
 *       the line is replaced by that file's text, which the caller hands in (`includes`); an included
 *       file may include others. A file holds declarations only (no `enable` directive).
 *   // #variant rms_norm_inplace of rms_norm: x=io out=io
 *       a copy of the entry point `rms_norm` (with its attributes) is appended under the new name, with
 *       every identifier on the left of `=` replaced by the one on its right (not after a `.`, so
 *       `wid.x` stays). The source holds one body; its variants bind other buffers or call other helpers.
 *
 * Expanding is idempotent: an expanded source has no directive left to act on.
 */

const INCLUDE = /^[ \t]*\/\/[ \t]*#include[ \t]+"([^"]+)"[ \t]*$/gm;
const VARIANT = /^[ \t]*\/\/[ \t]*#variant[ \t]+(\w+)[ \t]+of[ \t]+(\w+)[ \t]*:((?:[ \t]+\w+=\w+)*)[ \t]*$/gm;

const cache = new Map<string, string>();

/** The text of function `name` with its attribute lines (`@compute ...`), or throws. */
function functionText(source: string, name: string): string {
  const at = new RegExp(`(^|\\n)([ \\t]*@[^\\n]*\\n)*[ \\t]*fn[ \\t]+${name}[ \\t]*\\(`).exec(source);
  if (!at) throw new Error(`WGSL #variant: no function '${name}'`);
  const start = at.index + at[1].length;
  let i = source.indexOf('{', at.index + at[0].length);
  let depth = 0;
  for (; i < source.length; i++) {
    if (source[i] === '{') depth++;
    else if (source[i] === '}' && --depth === 0) return source.slice(start, i + 1);
  }
  throw new Error(`WGSL #variant: function '${name}' has no closing brace`);
}

function renameIdentifiers(text: string, renames: Record<string, string>): string {
  const names = Object.keys(renames);
  if (names.length === 0) return text;
  const re = new RegExp(`(?<![.\\w])(${names.join('|')})(?!\\w)`, 'g');
  return text.replace(re, (m) => renames[m]);
}

function includeAll(source: string, includes: Readonly<Record<string, string>>, depth: number): string {
  if (depth > 8) throw new Error('WGSL #include nested more than 8 deep');
  return source.replace(INCLUDE, (_line, file: string) => {
    const text = includes[file];
    if (text === undefined) throw new Error(`WGSL #include "${file}": not among the includes given (${Object.keys(includes).join(', ') || 'none'})`);
    return includeAll(text, includes, depth + 1).trimEnd();
  });
}

/** `source` with its `#include` lines replaced and its `#variant` entry points appended (see the module comment). */
export function expandWgsl(source: string, includes: Readonly<Record<string, string>> = {}): string {
  if (!source.includes('#include') && !source.includes('#variant')) return source;
  const key = `${Object.keys(includes).sort().join('\n')}\n\n${source}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  let out = includeAll(source, includes, 0);
  const variants: string[] = [];
  for (const m of out.matchAll(VARIANT)) {
    const [, name, base, pairs] = m;
    if (new RegExp(`\\bfn[ \\t]+${name}[ \\t]*\\(`).test(out)) continue;
    const renames: Record<string, string> = { [base]: name };
    for (const p of pairs.trim().split(/\s+/).filter(Boolean)) {
      const [from, to] = p.split('=');
      renames[from] = to;
    }
    variants.push(renameIdentifiers(functionText(out, base), renames));
  }
  if (variants.length) out = `${out.trimEnd()}\n\n${variants.join('\n\n')}\n`;
  cache.set(key, out);
  return out;
}
