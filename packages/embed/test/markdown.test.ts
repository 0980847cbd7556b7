import { describe, expect, it } from 'vitest';
import { parseInline, parseMarkdown, safeHref, type Block, type Inline } from '../src/markdown.ts';

/** Every string a tree would put into the DOM, as text nodes or the one attribute (href). */
function texts(nodes: Array<Block | Inline>): string[] {
  const out: string[] = [];
  const walk = (n: Block | Inline) => {
    if ('text' in n) out.push(n.text);
    if ('href' in n) out.push(n.href);
    if ('children' in n) (n.children as Array<Block | Inline>).forEach(walk);
    if ('items' in n) n.items.forEach((item) => item.forEach(walk));
  };
  nodes.forEach(walk);
  return out;
}

const NODE_TYPES = new Set(['paragraph', 'heading', 'code', 'quote', 'list', 'hr', 'text', 'br', 'strong', 'em', 'del', 'link']);

function types(nodes: Array<Block | Inline>): string[] {
  const out: string[] = [];
  const walk = (n: Block | Inline) => {
    out.push(n.type);
    if ('children' in n) (n.children as Array<Block | Inline>).forEach(walk);
    if ('items' in n) n.items.forEach((item) => item.forEach(walk));
  };
  nodes.forEach(walk);
  return out;
}

describe('parseMarkdown', () => {
  it.each([
    ['# Title\nSome *em* and **strong** text.', [{ type: 'heading', level: 1 }, { type: 'paragraph' }]],
    ['```ts\nconst a = 1;\n```\nafter', [{ type: 'code', lang: 'ts', text: 'const a = 1;' }, { type: 'paragraph' }]],
    ['```\nunclosed while streaming', [{ type: 'code', lang: '', text: 'unclosed while streaming' }]],
    ['- one\n- two\n  continued\n\n3. three\n4. four', [{ type: 'list', ordered: false }, { type: 'list', ordered: true, start: 3 }]],
    ['> quoted\n> lines\n\n---\n\nend', [{ type: 'quote' }, { type: 'hr' }, { type: 'paragraph' }]],
  ])('%j', (text, expected) => {
    expect(parseMarkdown(text)).toMatchObject(expected);
  });

  it('keeps single newlines inside a paragraph as line breaks', () => {
    expect(parseMarkdown('a\nb')).toEqual([{ type: 'paragraph', children: [{ type: 'text', text: 'a' }, { type: 'br' }, { type: 'text', text: 'b' }] }]);
  });

  it('keeps list continuation lines in their item', () => {
    const [list] = parseMarkdown('- one\n  more\n- two');
    expect(list).toMatchObject({ type: 'list', items: [[{ text: 'one' }, { type: 'br' }, { text: 'more' }], [{ text: 'two' }]] });
  });
});

describe('parseInline', () => {
  it.each<[string, Inline[]]>([
    ['`a < b`', [{ type: 'code', text: 'a < b' }]],
    ['**bold** _em_ ~~gone~~', [{ type: 'strong', children: [{ type: 'text', text: 'bold' }] }, { type: 'text', text: ' ' }, { type: 'em', children: [{ type: 'text', text: 'em' }] }, { type: 'text', text: ' ' }, { type: 'del', children: [{ type: 'text', text: 'gone' }] }]],
    ['snake_case_name stays', [{ type: 'text', text: 'snake_case_name stays' }]],
    ['2 * 3 * 4', [{ type: 'text', text: '2 * 3 * 4' }]],
    ['\\*not em\\*', [{ type: 'text', text: '*not em*' }]],
    ['**unclosed', [{ type: 'text', text: '**unclosed' }]],
    ['[site](https://example.com/a?b=1)', [{ type: 'link', href: 'https://example.com/a?b=1', children: [{ type: 'text', text: 'site' }] }]],
  ])('%j', (text, expected) => {
    expect(parseInline(text)).toEqual(expected);
  });
});

describe('untrusted input', () => {
  const attacks = [
    '<script>window.pwned = 1</script>',
    '<img src=x onerror="window.pwned=1">',
    '[click](javascript:alert(1))',
    '[click](JaVaScRiPt:alert(1))',
    '[x](data:text/html,<script>alert(1)</script>)',
    '[x]( vbscript:msgbox(1))',
    '**<b onmouseover=alert(1)>bold</b>**',
    '```html\n<iframe src="https://evil.example"></iframe>\n```',
  ];

  it.each(attacks)('%j stays text: no unsafe link, only known node types', (text) => {
    const tree = parseMarkdown(text);
    for (const t of types(tree)) expect(NODE_TYPES.has(t)).toBe(true);
    for (const s of texts(tree)) expect(s).not.toMatch(/^(javascript|data|vbscript):/i);
    const all = texts(tree).join('');
    if (/[<>]/.test(text)) expect(all).toMatch(/[<>]/);
  });

  it('refuses links that are not http(s) or mailto', () => {
    expect(safeHref('javascript:alert(1)')).toBeNull();
    expect(safeHref('  javascript:alert(1)')).toBeNull();
    expect(safeHref('data:text/html,x')).toBeNull();
    expect(safeHref('relative/path')).toBeNull();
    expect(safeHref('https://example.com')).toBe('https://example.com/');
    expect(safeHref('mailto:a@example.com')).toBe('mailto:a@example.com');
  });

  it('keeps raw HTML as literal text', () => {
    expect(texts(parseMarkdown('<script>alert(1)</script>'))).toEqual(['<script>alert(1)</script>']);
  });
});
