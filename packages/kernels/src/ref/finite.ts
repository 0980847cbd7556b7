/** CPU reference for the non-finite check: true when a value of the words (f32, or f16 / bf16 pairs) is NaN or +-inf. */
export function hasNonFiniteRef(kind: 'f32' | 'f16' | 'bf16', words: Uint32Array): boolean {
  if (kind === 'f32') return Array.from(new Float32Array(words.buffer, words.byteOffset, words.length)).some((v) => !Number.isFinite(v));
  const halves = new Uint16Array(words.buffer, words.byteOffset, 2 * words.length);
  const mask = kind === 'f16' ? 0x7c00 : 0x7f80;
  return halves.some((h) => (h & mask) === mask);
}

/** The lowest tag among the tensors that hold a non-finite value, or 0xffffffff when none does. */
export function firstNonFiniteRef(tensors: Array<{ kind: 'f32' | 'f16' | 'bf16'; words: Uint32Array; tag: number }>): number {
  let first = 0xffffffff;
  for (const t of tensors) if (hasNonFiniteRef(t.kind, t.words)) first = Math.min(first, t.tag);
  return first;
}
