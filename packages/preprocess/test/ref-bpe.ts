/**
 * A plain, slow reference of Gemma's tokenizer.json pipeline, written from the HF `tokenizers`
 * semantics and independent of the two JS libraries under test:
 *  1. split the raw text on added tokens (leftmost-longest match);
 *  2. in each other piece, replace " " by "▁" (the Replace normalizer; the Split pre-tokenizer on
 *     " " then finds nothing to split);
 *  3. start from one symbol per character, a character missing from the vocabulary becoming its
 *     UTF-8 bytes as <0xHH> tokens (byte_fallback);
 *  4. repeatedly merge the adjacent pair of lowest merge rank, leftmost first.
 * Quadratic: for strings of a few hundred characters.
 */

interface TokenizerJson {
  added_tokens: { id: number; content: string }[];
  model: { vocab: Record<string, number>; merges: [string, string][] | string[] };
}

export class ReferenceBpe {
  private readonly vocab: Map<string, number>;
  private readonly ranks = new Map<string, number>();
  private readonly added: Map<string, number>;
  private readonly addedByFirstChar = new Map<string, string[]>();

  constructor(json: TokenizerJson) {
    this.vocab = new Map(Object.entries(json.model.vocab));
    json.model.merges.forEach((m, rank) => {
      const [a, b] = typeof m === 'string' ? (m.split(' ') as [string, string]) : m;
      this.ranks.set(pairKey(a, b), rank);
    });
    this.added = new Map(json.added_tokens.map((t) => [t.content, t.id]));
    for (const content of this.added.keys()) {
      const list = this.addedByFirstChar.get(content[0]) ?? [];
      list.push(content);
      this.addedByFirstChar.set(content[0], list);
    }
    for (const list of this.addedByFirstChar.values()) list.sort((x, y) => y.length - x.length);
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    let piece = '';
    for (let i = 0; i < text.length; ) {
      const match = this.addedByFirstChar.get(text[i])?.find((c) => text.startsWith(c, i));
      if (match === undefined) {
        piece += text[i++];
        continue;
      }
      ids.push(...this.bpe(piece), this.added.get(match)!);
      piece = '';
      i += match.length;
    }
    ids.push(...this.bpe(piece));
    return ids;
  }

  private bpe(piece: string): number[] {
    if (piece.length === 0) return [];
    const symbols: string[] = [];
    for (const ch of piece.replaceAll(' ', '\u2581')) {
      if (this.vocab.has(ch)) symbols.push(ch);
      else for (const byte of new TextEncoder().encode(ch)) symbols.push(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`);
    }
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = this.ranks.get(pairKey(symbols[i], symbols[i + 1]));
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      symbols.splice(best, 2, symbols[best] + symbols[best + 1]);
    }
    return symbols.map((s) => this.vocab.get(s)!);
  }
}

function pairKey(a: string, b: string): string {
  return `${a.length}:${a}${b}`;
}
