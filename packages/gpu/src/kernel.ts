import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { ShapeError } from './errors.ts';
import { expandWgsl } from './wgsl-source.ts';

/** One member of the WGSL `Params` struct, as reflected from the shader source. */
export interface ParamField {
  name: string;
  /** Scalar kind of the member (u32, i32, f32) and its component count (1 for scalars, N for vecN). */
  kind: 'u32' | 'i32' | 'f32';
  components: number;
  offset: number;
}

export interface ParamLayout {
  struct: string;
  size: number;
  fields: ParamField[];
}

/**
 * A compiled description of one WGSL entry point with fixed override constants: the unit the
 * pipeline cache stores. `key` is readable and doubles as the GPU label.
 */
export interface Kernel {
  key: string;
  family: string;
  source: string;
  entry: string;
  constants: Record<string, number>;
  /** Binding slots (group 0) used by this entry point, by WGSL variable name. */
  bindings: Map<string, { binding: number; uniform: boolean; readOnly: boolean }>;
  params: ParamLayout | null;
  workgroupSize: [number, number, number];
}

const reflections = new Map<string, WgslReflect>();

function reflect(source: string): WgslReflect {
  let r = reflections.get(source);
  if (!r) {
    r = new WgslReflect(source);
    reflections.set(source, r);
  }
  return r;
}

function parseKind(typeName: string): { kind: ParamField['kind']; components: number } {
  const m = /^(?:vec([234])<(u32|i32|f32)>|(u32|i32|f32)|vec([234])([uif]))$/.exec(typeName);
  if (!m) throw new Error(`unsupported Params member type ${typeName}`);
  if (m[3]) return { kind: m[3] as ParamField['kind'], components: 1 };
  if (m[1]) return { kind: m[2] as ParamField['kind'], components: Number(m[1]) };
  const k = { u: 'u32', i: 'i32', f: 'f32' }[m[5] as 'u' | 'i' | 'f'] as ParamField['kind'];
  return { kind: k, components: Number(m[4]) };
}

/** The layout of the `var<uniform> params` struct of a WGSL module, reflected from its source. */
export function reflectParams(source: string): ParamLayout | null {
  const r = reflect(source);
  const v = r.uniforms.find((u) => u.name === 'params');
  if (!v) return null;
  const members = v.members ?? [];
  return {
    struct: v.type.name,
    size: Math.ceil(v.size / 16) * 16,
    fields: members.map((m) => ({ name: m.name, offset: m.offset, ...parseKind(m.type.getTypeName ? m.type.getTypeName() : m.type.name) })),
  };
}

/**
 * Describe a kernel variant: `family` names the WGSL file, `entry` the entry point and `constants`
 * the override values (workgroup sizes, tile sizes) that select the variant. The file's `#include`
 * and `#variant` lines are expanded first (wgsl-source.ts), with `includes` the files it may include.
 */
export function defineKernel(family: string, raw: string, entry: string, constants: Record<string, number> = {}, includes: Readonly<Record<string, string>> = {}): Kernel {
  const source = expandWgsl(raw, includes);
  const r = reflect(source);
  const fn = r.entry.compute.find((f) => f.name === entry);
  if (!fn) throw new Error(`${family}: no compute entry point '${entry}'`);
  const bindings = new Map<string, { binding: number; uniform: boolean; readOnly: boolean }>();
  for (const res of fn.resources) {
    if (res.group !== 0) throw new Error(`${family}/${entry}: only bind group 0 is supported (${res.name})`);
    bindings.set(res.name, { binding: res.binding, uniform: res.resourceType === 0 /* Uniform */ || res.name === 'params', readOnly: res.access !== 'read_write' });
  }
  const constPart = Object.keys(constants)
    .sort()
    .map((k) => `${k}=${constants[k]}`)
    .join(',');
  const wgs = (fn.workgroupSize ?? [1, 1, 1]).map((x, i) => {
    const name = (fn.attributes?.find((a) => a.name === 'workgroup_size')?.value as unknown as string[] | undefined)?.[i];
    return typeof name === 'string' && name in constants ? constants[name] : Number(x) || 1;
  }) as [number, number, number];
  return {
    key: `${family}/${entry}${constPart ? `{${constPart}}` : ''}`,
    family,
    source,
    entry,
    constants,
    bindings,
    params: bindings.has('params') ? reflectParams(source) : null,
    workgroupSize: wgs,
  };
}

export type ParamValues = Record<string, number | readonly number[]>;

/** Members named `_pad...` only fill the struct to 16 bytes: the packer writes 0 there unless given. */
const isPad = (name: string): boolean => name.startsWith('_pad');

/** Pack values into the std140-like uniform layout reflected from WGSL. Every field but padding must be given. */
export function packParams(kernel: Kernel, values: ParamValues, into?: DataView): DataView {
  const layout = kernel.params;
  if (!layout) throw new ShapeError(kernel.key, 'kernel has no params struct');
  const view = into ?? new DataView(new ArrayBuffer(layout.size));
  const known = new Set(layout.fields.map((f) => f.name));
  for (const k of Object.keys(values)) {
    if (!known.has(k)) throw new ShapeError(kernel.key, `unknown param '${k}' (struct ${layout.struct} has ${[...known].join(', ')})`);
  }
  for (const f of layout.fields) {
    const v = values[f.name] ?? (isPad(f.name) ? (f.components === 1 ? 0 : new Array<number>(f.components).fill(0)) : undefined);
    if (v === undefined) throw new ShapeError(kernel.key, `param '${f.name}' missing`);
    writeField(view, f, v, kernel.key);
  }
  return view;
}

export function writeField(view: DataView, f: ParamField, v: number | readonly number[], key: string): void {
  const arr = typeof v === 'number' ? [v] : v;
  if (arr.length !== f.components) throw new ShapeError(key, `param '${f.name}' needs ${f.components} components`);
  for (let i = 0; i < f.components; i++) {
    const at = f.offset + 4 * i;
    const x = arr[i];
    if (f.kind === 'f32') view.setFloat32(at, x, true);
    else if (f.kind === 'u32') {
      if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new ShapeError(key, `param '${f.name}' = ${x} is not a u32`);
      view.setUint32(at, x, true);
    } else {
      if (!Number.isInteger(x)) throw new ShapeError(key, `param '${f.name}' = ${x} is not an i32`);
      view.setInt32(at, x, true);
    }
  }
}

/**
 * Fold a 1-D workgroup count that may exceed the per-dimension limit into a 2-D grid.
 * Shaders recover the linear index as `wid.x + wid.y * nwg.x` and return past `count`.
 */
export function foldWorkgroups(count: number, maxPerDim: number): [number, number, number] {
  if (count <= maxPerDim) return [Math.max(count, 1), 1, 1];
  const y = Math.ceil(count / maxPerDim);
  const x = Math.ceil(count / y);
  if (y > maxPerDim) throw new ShapeError('dispatch', `${count} workgroups exceed ${maxPerDim}^2`);
  return [x, y, 1];
}
