/**
 * The Markdown tree of markdown.ts as DOM nodes. Only the elements named here are created, text
 * goes in through createTextNode, and the one attribute taken from the input (a link's href) has
 * passed safeHref, so model output can never inject markup, scripts or handlers.
 */
import { parseMarkdown, type Block, type Inline } from './markdown.ts';

function inline(doc: Document, nodes: Inline[]): Node[] {
  return nodes.map((n): Node => {
    switch (n.type) {
      case 'text':
        return doc.createTextNode(n.text);
      case 'br':
        return doc.createElement('br');
      case 'code': {
        const code = doc.createElement('code');
        code.textContent = n.text;
        return code;
      }
      case 'link': {
        const a = doc.createElement('a');
        a.href = n.href;
        a.target = '_blank';
        a.rel = 'noopener noreferrer nofollow';
        a.append(...inline(doc, n.children));
        return a;
      }
      default: {
        const el = doc.createElement(n.type);
        el.append(...inline(doc, n.children));
        return el;
      }
    }
  });
}

function block(doc: Document, b: Block): Node {
  switch (b.type) {
    case 'paragraph': {
      const p = doc.createElement('p');
      p.append(...inline(doc, b.children));
      return p;
    }
    case 'heading': {
      // Answers sit inside a page that has its own outline: their headings start at h3.
      const h = doc.createElement(`h${Math.min(6, b.level + 2)}`);
      h.append(...inline(doc, b.children));
      return h;
    }
    case 'code': {
      const pre = doc.createElement('pre');
      const code = doc.createElement('code');
      if (b.lang) code.dataset.lang = b.lang;
      code.textContent = b.text;
      pre.append(code);
      return pre;
    }
    case 'quote': {
      const q = doc.createElement('blockquote');
      q.append(...b.children.map((c) => block(doc, c)));
      return q;
    }
    case 'list': {
      const list = doc.createElement(b.ordered ? 'ol' : 'ul');
      if (b.ordered && b.start !== 1) (list as HTMLOListElement).start = b.start;
      for (const item of b.items) {
        const li = doc.createElement('li');
        li.append(...inline(doc, item));
        list.append(li);
      }
      return list;
    }
    case 'hr':
      return doc.createElement('hr');
  }
}

/** Markdown text as a fragment of safe DOM nodes. */
export function renderMarkdown(text: string, doc: Document = document): DocumentFragment {
  const frag = doc.createDocumentFragment();
  frag.append(...parseMarkdown(text).map((b) => block(doc, b)));
  return frag;
}
