/**
 * The CLI's arguments: `--name value` pairs, `--help` on every command, the output path checked
 * before any work, and the one line an error prints.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Thrown by parseArgs for `--help` / `-h`: the dispatcher prints the usage to stdout and exits 0. */
export class HelpRequested extends Error {
  constructor(readonly usage: string) {
    super(usage);
    this.name = 'HelpRequested';
  }
}

/**
 * Parse `--name value` pairs; every flag takes one value. Unknown or repeated flags are errors.
 * `--help` or `-h` anywhere throws HelpRequested with `usage` (by default, the known options).
 */
export function parseArgs(argv: string[], known: readonly string[], usage?: string): Map<string, string> {
  if (argv.includes('--help') || argv.includes('-h')) throw new HelpRequested(usage ?? `options: ${known.map((k) => `--${k} <value>`).join(' ')}`);
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (!flag.startsWith('--')) throw new Error(`unexpected argument '${flag}'`);
    const name = flag.slice(2);
    if (!known.includes(name)) throw new Error(`unknown option '${flag}' (expected ${known.map((k) => `--${k}`).join(', ')})`);
    if (out.has(name)) throw new Error(`option '${flag}' given twice`);
    const value = argv[i + 1];
    if (value === undefined || value.startsWith('--')) throw new Error(`option '${flag}' needs a value`);
    out.set(name, value);
    i++;
  }
  return out;
}

export function required(args: Map<string, string>, name: string): string {
  const v = args.get(name);
  if (v === undefined) throw new Error(`missing --${name}`);
  return v;
}

/** Fail now, before any model runs, when `path` (given as --`option`) cannot be written: no folder, a folder in its place, no permission. */
export function checkOutputPath(path: string, option: string): void {
  const full = resolve(path);
  const dir = dirname(full);
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new Error(`--${option} ${path}: the folder ${dir} does not exist`);
  }
  if (!isDir) throw new Error(`--${option} ${path}: ${dir} is not a folder`);
  try {
    if (statSync(full).isDirectory()) throw new Error(`--${option} ${path} is a folder; give a file name`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new Error(`--${option} ${path}: the folder ${dir} is not writable`);
  }
}

function text(v: unknown): string {
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** The one line an error prints, whatever was thrown: `g3n: CODE: first line of the message` (the code once). */
export function errorLine(e: unknown): string {
  const obj = typeof e === 'object' && e !== null ? (e as { code?: unknown; message?: unknown }) : null;
  const code = obj && typeof obj.code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(obj.code) ? obj.code : null;
  let message = obj && typeof obj.message === 'string' ? obj.message : obj ? `unexpected failure (${text(e)})` : typeof e === 'string' ? e : `unexpected failure (${text(e)})`;
  message = message.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'unknown error';
  if (code && message.startsWith(`${code}:`)) message = message.slice(code.length + 1).trim();
  return `g3n: ${code ? `${code}: ` : ''}${message}`;
}

/**
 * Dawn's Vulkan backend prints an `XDG_RUNTIME_DIR is invalid or not set` warning for each adapter
 * where the variable is missing (a container, a CI job): give it a private folder before the GPU starts.
 */
export async function quietGpuStart(): Promise<void> {
  if (process.env.XDG_RUNTIME_DIR) return;
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  try {
    const dir = mkdtempSync(join(tmpdir(), 'g3n-runtime-'));
    process.env.XDG_RUNTIME_DIR = dir;
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  } catch {
    // No temporary folder: the warnings stay, nothing else changes.
  }
}
