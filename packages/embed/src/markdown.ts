/**
 * A small Markdown subset parsed into a plain tree, for model output (untrusted text). The tree
 * holds only text and a fixed set of node types; markdown-dom.ts turns it into DOM nodes with
 * createElement/createTextNode, so no string ever reaches an HTML parser. Raw HTML in the input is
 * kept as literal text.
 *
 * Blocks: paragraphs (single newlines become line breaks), ATX headings, fenced code (an unclosed
 * fence runs to the end, as while streaming), block quotes, flat bullet and numbered lists,
 * thematic breaks. Inline: `code`, **strong**, *em* / _em_, ~~del~~, [text](url) with http(s) and
 * mailto URLs only, backslash escapes.
 */

export type Inline =
  | { type: 'text'; text: string }
  | { type: 'code'; text: string }
  | { type: 'br' }
  | { type: 'strong' | 'em' | 'del'; children: Inline[] }
  | { type: 'link'; href: string; children: Inline[] };

export type Block =
  | { type: 'paragraph'; children: Inline[] }
  | { type: 'heading'; level: number; children: Inline[] }
  | { type: 'code'; lang: string; text: string }
  | { type: 'quote'; children: Block[] }
  | { type: 'list'; ordered: boolean; start: number; items: Inline[][] }
  | { type: 'hr' };

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const QUOTE = /^ {0,3}> ?/;
const BULLET = /^ {0,3}[-*+]\s+(.*)$/;
const NUMBERED = /^ {0,3}(\d{1,9})[.)]\s+(.*)$/;
const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
const SAFE_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);

function startsBlock(line: string): boolean {
  return FENCE.test(line) || HEADING.test(line) || QUOTE.test(line) || BULLET.test(line) || NUMBERED.test(line) || RULE.test(line);
}

/** Parse Markdown text into blocks. */
export function parseMarkdown(text: string): Block[] {
  return parseLines(text.replace(/\r\n?/g, '\n').split('\n'));
}

function parseLines(lines: string[]): Block[] {
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') {
      i++;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const body: string[] = [];
      i++;
      while (i < lines.length && !lines[i].trimStart().startsWith(fence[1])) body.push(lines[i++]);
      i++;
      blocks.push({ type: 'code', lang: fence[2], text: body.join('\n') });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      blocks.push({ type: 'heading', level: heading[1].length, children: parseInline(heading[2]) });
      i++;
      continue;
    }
    if (RULE.test(line)) {
      blocks.push({ type: 'hr' });
      i++;
      continue;
    }
    if (QUOTE.test(line)) {
      const inner: string[] = [];
      while (i < lines.length && QUOTE.test(lines[i])) inner.push(lines[i++].replace(QUOTE, ''));
      blocks.push({ type: 'quote', children: parseLines(inner) });
      continue;
    }
    const ordered = NUMBERED.exec(line);
    if (ordered || BULLET.test(line)) {
      const pattern = ordered ? NUMBERED : BULLET;
      const items: string[] = [];
      while (i < lines.length) {
        const m = pattern.exec(lines[i]);
        if (m) items.push(m[m.length - 1]);
        else if (lines[i].trim() !== '' && /^\s+/.test(lines[i]) && items.length) items[items.length - 1] += `\n${lines[i].trim()}`;
        else break;
        i++;
      }
      blocks.push({ type: 'list', ordered: !!ordered, start: ordered ? Number(ordered[1]) : 1, items: items.map(parseInline) });
      continue;
    }
    const para: string[] = [];
    while (i < lines.length && lines[i].trim() !== '' && (para.length === 0 || !startsBlock(lines[i]))) para.push(lines[i++].trim());
    blocks.push({ type: 'paragraph', children: parseInline(para.join('\n')) });
  }
  return blocks;
}

/** A link target, or null when its protocol is not http(s) or mailto (javascript:, data:, ...). */
export function safeHref(raw: string): string | null {
  try {
    const url = new URL(raw.trim());
    return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

const EMPHASIS: Array<[string, 'strong' | 'em' | 'del']> = [
  ['**', 'strong'],
  ['__', 'strong'],
  ['~~', 'del'],
  ['*', 'em'],
  ['_', 'em'],
];

/** Parse inline Markdown; anything that does not close is kept as text. */
export function parseInline(text: string): Inline[] {
  const out: Inline[] = [];
  let buf = '';
  const flush = () => {
    if (buf) out.push({ type: 'text', text: buf });
    buf = '';
  };
  let i = 0;
  outer: while (i < text.length) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length && /[\\`*_~[\]()#>+\-.!]/.test(text[i + 1])) {
      buf += text[i + 1];
      i += 2;
      continue;
    }
    if (c === '\n') {
      flush();
      out.push({ type: 'br' });
      i++;
      continue;
    }
    if (c === '`') {
      const ticks = /^`+/.exec(text.slice(i))![0];
      const end = text.indexOf(ticks, i + ticks.length);
      if (end > 0) {
        flush();
        out.push({ type: 'code', text: text.slice(i + ticks.length, end).trim() || text.slice(i + ticks.length, end) });
        i = end + ticks.length;
        continue;
      }
      buf += ticks;
      i += ticks.length;
      continue;
    }
    if (c === '[') {
      const link = /^\[([^\]\n]*)\]\(([^)\s]+)\)/.exec(text.slice(i));
      const href = link && safeHref(link[2]);
      if (link && href) {
        flush();
        out.push({ type: 'link', href, children: parseInline(link[1]) });
        i += link[0].length;
        continue;
      }
    }
    for (const [mark, type] of EMPHASIS) {
      if (!text.startsWith(mark, i) || /\s/.test(text[i + mark.length] ?? ' ')) continue;
      const end = text.indexOf(mark, i + mark.length + 1);
      if (end < 0 || /\s/.test(text[end - 1])) continue;
      if (mark === '_' && /\w/.test(text[i - 1] ?? '')) continue;
      flush();
      out.push({ type, children: parseInline(text.slice(i + mark.length, end)) });
      i = end + mark.length;
      continue outer;
    }
    buf += c;
    i++;
  }
  flush();
  return out;
}
