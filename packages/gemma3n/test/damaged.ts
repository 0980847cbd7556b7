import { copyFile, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensorsHeader, readHeaderLength } from '@g3n/weights';

/**
 * A copy of the checkpoint in `dir` (config.json, model.safetensors, the rest) in a fresh temp
 * directory, with `values` written over elements [at, at + values.length) of one tensor of
 * model.safetensors, encoded in the tensor's dtype (F32 as is, BF16 as the top half of the f32 bits).
 */
export async function checkpointWith(dir: string, tensor: string, values: number[], at = 0): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'g3n-damaged-'));
  for (const f of await readdir(dir, { withFileTypes: true })) if (f.isFile() && f.name !== 'model.safetensors') await copyFile(join(dir, f.name), join(out, f.name));
  const bytes = new Uint8Array(await readFile(join(dir, 'model.safetensors')));
  const headerLength = readHeaderLength(bytes.subarray(0, 8), bytes.length, dir);
  const header = parseSafetensorsHeader(bytes.subarray(0, 8 + headerLength), bytes.length, dir);
  const e = header.tensors.get(tensor);
  if (!e) throw new Error(`${dir} has no tensor ${tensor}`);
  const elements = e.shape.reduce((x, y) => x * y, 1);
  if (at < 0 || at + values.length > elements) throw new Error(`elements [${at}, ${at + values.length}) lie outside ${tensor}'s ${elements}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  values.forEach((v, i) => {
    const f32 = new DataView(new Float32Array([v]).buffer).getUint32(0, true);
    if (e.dtype === 'F32') view.setUint32(e.start + 4 * (at + i), f32, true);
    else if (e.dtype === 'BF16') view.setUint16(e.start + 2 * (at + i), f32 >>> 16, true);
    else throw new Error(`checkpointWith writes F32 and BF16 tensors, not ${e.dtype}`);
  });
  await writeFile(join(out, 'model.safetensors'), bytes);
  return out;
}
