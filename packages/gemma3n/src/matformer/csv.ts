/**
 * The official `google/gemma3n-slicing-configs` configs.csv: columns `name`, `# Layers`,
 * `# Effective Params (B)`, `MMLU PT accuracy`, `FFN Hidden Dims`, `Layers Skipped` (any order,
 * others ignored). Fields follow RFC 4180 quoting; `FFN Hidden Dims` is a Python list expression of
 * integer products such as `[2_048 * 8, 128 * 2]` (underscores allowed in numbers, nothing else is
 * evaluated); an empty `Layers Skipped` means none.
 */
import { SliceError, type SliceConfig } from './slice.ts';

export type PublishedSliceRow = SliceConfig & {
  /** `# Effective Params (B)`, in billions; null when the cell is empty. */
  effectiveParamsB: number | null;
  /** `MMLU PT accuracy` in percent (a trailing `%` is dropped); null when the cell is empty. */
  mmlu: number | null;
};

const COLUMNS = {
  name: 'name',
  layers: '# Layers',
  params: '# Effective Params (B)',
  mmlu: 'MMLU PT accuracy',
  ffn: 'FFN Hidden Dims',
  skipped: 'Layers Skipped',
} as const;

const bad = (line: number, what: string): never => {
  throw new SliceError('bad-format', `configs.csv line ${line}: ${what}. Use the format of google/gemma3n-slicing-configs.`, { line });
};

/** RFC 4180 records: each a list of fields with the line it starts on; CRLF or LF line ends; blank lines skipped. */
function records(text: string): Array<{ line: number; fields: string[] }> {
  const out: Array<{ line: number; fields: string[] }> = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  const endField = () => {
    fields.push(field);
    field = '';
    quoted = false;
  };
  const endRecord = () => {
    endField();
    if (fields.length > 1 || fields[0] !== '') out.push({ line: start, fields });
    fields = [];
  };
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"' && field === '' && !quoted) {
      quoted = true;
      let j = i + 1;
      for (;;) {
        if (j >= text.length) bad(start, 'a quoted field is not closed');
        if (text[j] === '"' && text[j + 1] === '"') {
          field += '"';
          j += 2;
        } else if (text[j] === '"') {
          break;
        } else {
          if (text[j] === '\n') line++;
          field += text[j++];
        }
      }
      i = j + 1;
      if (i < text.length && !',\r\n'.includes(text[i])) bad(line, 'text after a closing quote');
      continue;
    }
    if (c === ',') {
      endField();
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      start = line;
    } else {
      field += c;
    }
    i++;
  }
  if (field !== '' || quoted || fields.length > 0) endRecord();
  return out;
}

/** One integer literal, Python style: digits with single underscores between them. */
function integer(tok: string, line: number, col: string): number {
  if (!/^\d+(_\d+)*$/.test(tok)) bad(line, `${col}: ${JSON.stringify(tok)} is not an integer`);
  const v = Number(tok.replaceAll('_', ''));
  if (!Number.isSafeInteger(v)) bad(line, `${col}: ${tok} is too large`);
  return v;
}

/** `[a * b, c, ...]`: a bracketed, comma-separated list of integer products; an empty cell is []. */
export function parseIntListExpression(cell: string, line = 0, col = 'list'): number[] {
  const s = cell.trim();
  if (s === '') return [];
  if (!s.startsWith('[') || !s.endsWith(']')) bad(line, `${col}: ${JSON.stringify(cell)} is not a [ ... ] list`);
  const body = s.slice(1, -1).trim();
  if (body === '') return [];
  const items = body.split(',').map((x) => x.trim());
  if (items[items.length - 1] === '') items.pop();
  return items.map((item) => {
    if (item === '') bad(line, `${col}: an empty list entry in ${JSON.stringify(cell)}`);
    const product = item.split('*').reduce((acc, factor) => acc * integer(factor.trim(), line, col), 1);
    if (!Number.isSafeInteger(product)) bad(line, `${col}: ${item} is too large`);
    return product;
  });
}

function optionalNumber(cell: string, line: number, col: string, suffix: RegExp): number | null {
  const s = cell.trim().replace(suffix, '').trim();
  if (s === '') return null;
  const v = Number(s);
  if (!Number.isFinite(v)) bad(line, `${col}: ${JSON.stringify(cell)} is not a number`);
  return v;
}

export function parseConfigsCsv(text: string): PublishedSliceRow[] {
  const [header, ...rows] = records(text);
  if (!header) bad(1, 'the file is empty');
  const names = header.fields.map((f) => f.trim());
  const col = (title: string): number => {
    const k = names.indexOf(title);
    if (k < 0) bad(header.line, `no "${title}" column (found ${names.map((n) => JSON.stringify(n)).join(', ')})`);
    return k;
  };
  const at = { name: col(COLUMNS.name), layers: col(COLUMNS.layers), params: col(COLUMNS.params), mmlu: col(COLUMNS.mmlu), ffn: col(COLUMNS.ffn), skipped: col(COLUMNS.skipped) };
  return rows.map(({ line, fields }) => {
    if (fields.length > names.length) bad(line, `${fields.length} fields for ${names.length} columns`);
    const cell = (k: number): string => fields[k] ?? '';
    const name = cell(at.name).trim();
    if (name === '') bad(line, 'the name is empty');
    const numLayers = integer(cell(at.layers).trim(), line, COLUMNS.layers);
    const ffnHiddenDims = parseIntListExpression(cell(at.ffn), line, COLUMNS.ffn);
    if (ffnHiddenDims.length !== numLayers) {
      throw new SliceError('wrong-layer-count', `configs.csv line ${line} ("${name}"): # Layers is ${numLayers} but FFN Hidden Dims lists ${ffnHiddenDims.length} widths.`, { line, numLayers, widths: ffnHiddenDims.length });
    }
    return {
      name,
      layersSkipped: parseIntListExpression(cell(at.skipped), line, COLUMNS.skipped),
      ffnHiddenDims,
      numLayers,
      effectiveParamsB: optionalNumber(cell(at.params), line, COLUMNS.params, /\s*B$/i),
      mmlu: optionalNumber(cell(at.mmlu), line, COLUMNS.mmlu, /\s*%$/),
    };
  });
}
