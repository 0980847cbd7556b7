/**
 * The messages of a chat request checked before anything reads them, so that what a page sends
 * across the Worker boundary (any structured-clone value) fails with a BadRequestError naming the
 * field: not a list, a message that is not an object, a role other than system / user / assistant,
 * content that is neither a string nor a list of typed parts, text that is not a string or not valid
 * Unicode, or more text than the context could hold, refused before it is tokenized.
 */
import { loneSurrogateIndex } from '@g3n/preprocess';
import { BadRequestError } from './errors.ts';

const ROLES = ['system', 'user', 'assistant'];
/** No Gemma token spells more characters than this: text longer than the context times it cannot fit. */
const MAX_CHARS_PER_TOKEN = 64;

/** A short, safe description of any value (JSON.stringify throws on BigInt and cycles). */
function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (v === null || typeof v === 'number' || typeof v === 'boolean' || v === undefined) return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  return Array.isArray(v) ? 'a list' : `a ${typeof v}`;
}

function checkText(text: unknown, field: string): number {
  if (typeof text !== 'string') throw new BadRequestError(field, `must be a string, got ${describe(text)}`);
  const at = loneSurrogateIndex(text);
  if (at >= 0) throw new BadRequestError(field, `is not valid Unicode: a lone surrogate at index ${at}`);
  return text.length;
}

/** Throws a BadRequestError for the first thing wrong with `messages`; `maxContext` bounds the text. */
export function checkMessages(messages: unknown, maxContext: number): void {
  if (!Array.isArray(messages)) throw new BadRequestError('messages', `must be a list of { role, content } messages, got ${describe(messages)}`);
  let chars = 0;
  messages.forEach((m: unknown, i) => {
    const field = `messages[${i}]`;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new BadRequestError(field, `must be a { role, content } object, got ${describe(m)}`);
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (typeof role !== 'string' || !ROLES.includes(role)) throw new BadRequestError(`${field}.role`, `must be "system", "user" or "assistant", got ${describe(role)}`);
    if (typeof content === 'string') {
      chars += checkText(content, `${field}.content`);
      return;
    }
    if (!Array.isArray(content)) throw new BadRequestError(`${field}.content`, `must be a string or a list of parts, got ${describe(content)}`);
    content.forEach((part: unknown, j) => {
      const pf = `${field}.content[${j}]`;
      if (typeof part !== 'object' || part === null || Array.isArray(part)) throw new BadRequestError(pf, `must be a { type, ... } part, got ${describe(part)}`);
      const type = (part as { type?: unknown }).type;
      if (typeof type !== 'string') throw new BadRequestError(`${pf}.type`, `must be a string, got ${describe(type)}`);
      if (type === 'text') chars += checkText((part as { text?: unknown }).text, `${pf}.text`);
    });
  });
  if (chars > maxContext * MAX_CHARS_PER_TOKEN) {
    throw new BadRequestError('messages', `hold ${chars} characters of text, more than a ${maxContext}-token context can hold; shorten the conversation`);
  }
}
