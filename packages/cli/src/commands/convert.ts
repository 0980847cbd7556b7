import { converterRules, parseConfig } from '@g3n/gemma3n';
import { convertCheckpoint, defaultCut, defaultRole, httpFileSource, openCheckpoint, QUANT_NAMES, type QuantName, type StoreAs, type TensorRole } from '@g3n/weights';
import { nodeArtifactSink, nodeFileSource } from '@g3n/weights/node';
import { parseArgs, required } from '../args.ts';

export const CONVERT_USAGE = `usage: g3n convert --in <checkpoint dir or URL> --out <dir> --quant q4|q8|f16|bf16|f32 [--model-id <id>] [--revision <r>] [--shard-mib <N>] [--roles <role=dtype,...>]
  --in         a Hugging Face checkpoint folder or its base URL
  --out        the artifact folder to write (manifest.json and shards)
  --quant      how linear weights are stored: q4, q8, f16, bf16 or f32
  --model-id   the model id recorded in the manifest (default: the input folder's name)
  --revision   the revision recorded in the manifest (default: main)
  --shard-mib  the largest shard in MiB (default 64)
  --roles      a stored dtype per tensor class, e.g. ple=q4,norm=f32`;

const ROLES: readonly TensorRole[] = ['embedding', 'ple', 'linear', 'norm', 'vector', 'coefs', 'other'];
const STORE: Record<string, StoreAs> = { q4: 'Q4', q8: 'Q8', f16: 'F16', bf16: 'BF16', f32: 'F32' };

function mib(n: number): string {
  return `${(n / 2 ** 20).toFixed(2)} MiB`;
}

/** `--roles ple=q4,norm=f32`: a stored dtype per tensor class. */
function parseRoles(text: string): Partial<Record<TensorRole, StoreAs>> {
  const out: Partial<Record<TensorRole, StoreAs>> = {};
  for (const item of text.split(',')) {
    const [role, dtype] = item.split('=').map((s) => s.trim());
    if (!ROLES.includes(role as TensorRole) || !STORE[dtype]) throw new Error(`--roles takes role=dtype pairs (roles: ${ROLES.join(', ')}; dtypes: ${QUANT_NAMES.join(', ')}), got '${item}'`);
    out[role as TensorRole] = STORE[dtype];
  }
  return out;
}

/**
 * g3n convert: a Hugging Face checkpoint (directory or base URL) -> a g3n artifact directory
 * (manifest.json + shards), streamed tensor by tensor, byte-for-byte deterministic.
 */
export async function convertCommand(argv: string[]): Promise<void> {
  const args = parseArgs(argv, ['in', 'out', 'quant', 'model-id', 'revision', 'shard-mib', 'roles'], CONVERT_USAGE);
  const input = required(args, 'in');
  const out = required(args, 'out');
  const quant = required(args, 'quant') as QuantName;
  if (!QUANT_NAMES.includes(quant)) throw new Error(`--quant must be one of ${QUANT_NAMES.join(', ')}, got '${quant}'`);
  const shardMib = Number(args.get('shard-mib') ?? 64);
  if (!Number.isFinite(shardMib) || shardMib <= 0) throw new Error(`--shard-mib must be a positive number, got '${args.get('shard-mib')}'`);
  const isUrl = /^https?:\/\//.test(input);
  const modelId = args.get('model-id') ?? (input.replace(/\/+$/, '').split('/').pop() || 'model');
  const revision = args.get('revision') ?? 'main';

  const checkpoint = await openCheckpoint(isUrl ? httpFileSource(input) : nodeFileSource(input));
  const rules = converterRules(parseConfig(checkpoint.config), { roleOf: defaultRole, cutOf: defaultCut });
  const start = Date.now();
  console.log(`converting ${input} (${checkpoint.tensors.size} tensors) -> ${out} as ${quant}, shards up to ${mib(Math.round(shardMib * 2 ** 20))}`);
  const manifest = await convertCheckpoint(
    checkpoint,
    {
      quant,
      roles: args.has('roles') ? parseRoles(args.get('roles') as string) : undefined,
      ...rules,
      modelId,
      revision,
      shardBytes: Math.round(shardMib * 2 ** 20),
      onProgress: (p) => {
        if (p.shardDone) {
          console.log(`  wrote ${p.shardDone.file}: ${mib(p.shardDone.bytes)}, sha256 ${p.shardDone.sha256}`);
          return;
        }
        const t = p.tensor;
        const pct = ((100 * p.writtenBytes) / Math.max(p.totalBytes, 1)).toFixed(1).padStart(5);
        const count = String(p.tensorCount);
        console.log(`[${String(p.tensorsDone).padStart(count.length)}/${count}] ${pct}%  ${t.name} ${t.source} [${t.shape.join(', ')}] -> ${t.dtype}${t.layout === 'row-major' ? '' : ` ${t.layout}`}${t.parts.length > 1 ? ` in ${t.parts.length} parts` : ''}`);
      },
    },
    nodeArtifactSink(out),
  );
  const seconds = ((Date.now() - start) / 1000).toFixed(1);
  console.log(`${out}/manifest.json: ${manifest.tensors.length} tensors in ${manifest.shards.length} shards, ${mib(manifest.totalBytes)} (${modelId}@${revision}, ${seconds} s)`);
}
