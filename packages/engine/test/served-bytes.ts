/**
 * Which tensors' bytes a static server sent: the tensors' byte ranges from a safetensors header, the
 * ranges the server's request log says it sent, and the tensors that overlap them. Used to show that a
 * text-only load never reads a tower's bytes, and that the first image or clip reads all of them.
 */
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ArtifactServer } from '../../../e2e/server/artifact-server.ts';

/** [start, end) byte offsets within the file. */
export type ByteRange = readonly [number, number];

/** Every tensor's [start, end) within a .safetensors file (8-byte header length, JSON header, data). */
export function tensorRanges(file: string): Map<string, ByteRange> {
  const bytes = readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { data_offsets?: [number, number] }>;
  const base = 8 + headerLength;
  const out = new Map<string, ByteRange>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__' || !info.data_offsets) continue;
    out.set(name, [base + info.data_offsets[0], base + info.data_offsets[1]]);
  }
  return out;
}

/** The [start, end) ranges of body bytes the server sent for GETs of files whose name matches `re`. */
export function servedRanges(server: ArtifactServer, re: RegExp): ByteRange[] {
  return server
    .gets(re)
    .filter((r) => r.sent > 0)
    .map((r) => [r.start, r.start + r.sent] as const);
}

/** Names (with one of `prefixes`) of the tensors whose bytes overlap any of `served`. */
export function tensorsTouched(ranges: Map<string, ByteRange>, served: ByteRange[], prefixes: string[]): string[] {
  const out: string[] = [];
  for (const [name, [a, b]] of ranges) {
    if (b <= a || !prefixes.some((p) => name.startsWith(p))) continue;
    if (served.some(([s, e]) => s < b && a < e)) out.push(name);
  }
  return out;
}

/** Names (with one of `prefixes`) of the tensors not every byte of which is inside `served`. */
export function tensorsNotFullyServed(ranges: Map<string, ByteRange>, served: ByteRange[], prefixes: string[]): string[] {
  const sorted = [...served].sort((x, y) => x[0] - y[0]);
  const out: string[] = [];
  for (const [name, [a, b]] of ranges) {
    if (b <= a || !prefixes.some((p) => name.startsWith(p))) continue;
    let at = a;
    for (const [s, e] of sorted) if (s <= at && e > at) at = e;
    if (at < b) out.push(name);
  }
  return out;
}

/** A temporary folder of links to `files` (name in the folder -> file) plus files written from `bytes`. */
export function linkFolder(files: Record<string, string>, bytes: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'g3n-served-'));
  for (const [name, target] of Object.entries(files)) symlinkSync(target, join(dir, name));
  for (const [name, text] of Object.entries(bytes)) writeFileSync(join(dir, name), text);
  return dir;
}
