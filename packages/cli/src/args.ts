/** Parse `--name value` pairs; every flag takes one value. Unknown or repeated flags are errors. */
export function parseArgs(argv: string[], known: readonly string[]): Map<string, string> {
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
