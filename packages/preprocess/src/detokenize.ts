/**
 * Incremental detokenization for streaming generation. Each push returns the text that the new
 * token completes, so that the concatenation of all pushes and the final flush equals
 * tokenizer.decode(all ids).
 *
 * Method (as in HF text-generation-inference): decode a short window of recent ids twice, without
 * and with the ids not yet emitted, and return the difference. While the window's text ends in
 * U+FFFD, the last token(s) are part of a multi-byte character whose byte-fallback tokens have not
 * all arrived, so nothing is emitted until the character is complete. The window starts at the
 * last point where everything before was emitted, which keeps each push O(window), and the
 * tokens before that point give the decoder its context (leading-space handling).
 *
 * Assumption: the tokenizer's decoder is prefix-stable (decoding more tokens never changes text
 * already decoded except a trailing incomplete character), as Gemma's Replace + ByteFallback +
 * Fuse decoder is.
 */
import type { DecodeOptions, Tokenizer } from './tokenizer.ts';

export class StreamingDetokenizer {
  private readonly tokenizer: Tokenizer;
  private readonly opts: DecodeOptions;
  private ids: number[] = [];
  /** ids[0 .. prefixEnd) were emitted in an earlier push and are kept as decoding context. */
  private prefixEnd = 0;

  constructor(tokenizer: Tokenizer, opts: DecodeOptions = {}) {
    this.tokenizer = tokenizer;
    this.opts = opts;
  }

  /** Adds one token id; returns the newly completed text (often '', never a partial character). */
  push(id: number): string {
    this.ids.push(id);
    const before = this.tokenizer.decode(this.ids.slice(0, this.prefixEnd), this.opts);
    const text = this.tokenizer.decode(this.ids, this.opts);
    if (text.length <= before.length || text.endsWith('\uFFFD')) return '';
    this.ids = this.ids.slice(this.prefixEnd);
    this.prefixEnd = this.ids.length;
    return text.slice(before.length);
  }

  /** Returns what is still held back (an incomplete character decodes as U+FFFD) and resets. */
  flush(): string {
    const before = this.tokenizer.decode(this.ids.slice(0, this.prefixEnd), this.opts);
    const text = this.tokenizer.decode(this.ids, this.opts);
    this.reset();
    return text.slice(before.length);
  }

  /** Forgets all tokens, for a new sequence. */
  reset(): void {
    this.ids = [];
    this.prefixEnd = 0;
  }
}
