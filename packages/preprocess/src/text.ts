/**
 * Text the tokenizer accepts: bytes decoded as strict UTF-8, strings without lone surrogates. Invalid
 * input is refused with a TokenizerError (BAD_INPUT) that gives its position, never turned into
 * U+FFFD and tokenized silently.
 */
import { TokenizerError } from './errors.ts';

/** Length of a valid UTF-8 sequence starting at `i`, or 0 where the bytes there are not one. */
function sequenceLength(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (k: number) => i + k < b.length && (b[i + k] & 0xc0) === 0x80;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return i + 1 < b.length && b[i + 1] >= lo && b[i + 1] <= hi && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return i + 1 < b.length && b[i + 1] >= lo && b[i + 1] <= hi && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/** Byte offset of the first invalid UTF-8 sequence in `bytes`, or -1 when they are valid. */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const n = sequenceLength(bytes, i);
    if (n === 0) return i;
    i += n;
  }
  return -1;
}

/** `bytes` as text; invalid UTF-8 is a TokenizerError naming `what` and the byte offset (and line). */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const at = invalidUtf8Offset(bytes);
    let line = 1;
    for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) line++;
    const hex = [...bytes.subarray(at, at + 4)].map((x) => x.toString(16).padStart(2, '0')).join(' ');
    throw new TokenizerError(`${what} is not valid UTF-8: byte offset ${at} (line ${line}) starts an invalid sequence (${hex}). Save the text as UTF-8.`, { offset: at, line });
  }
}

/** Index (UTF-16 code unit) of the first lone surrogate in `text`, or -1 when it is well-formed. */
export function loneSurrogateIndex(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    return i;
  }
  return -1;
}

/** Refuse a string with a lone surrogate (text that no UTF-8 can hold), naming `what` and the index. */
export function checkWellFormed(text: string, what: string): void {
  const at = loneSurrogateIndex(text);
  if (at >= 0) {
    throw new TokenizerError(`${what} is not valid Unicode: a lone surrogate (U+${text.charCodeAt(at).toString(16).toUpperCase()}) at index ${at}. Send well-formed text.`, { index: at });
  }
}
