/**
 * The size selector of the model form: for a MatFormer parent, "Auto (largest that fits)" and each
 * configuration valid for it, every row with its download size, GPU memory (weights in the chosen
 * format + KV caches at the demo's context) and published quality; hidden for other models. Also the
 * weight-format select, whose choice the GPU figures follow. Each option carries its figures as
 * data attributes (data-layers, data-download, data-gpu, data-mmlu) for automated checks.
 */
import type { LoadOptions, WeightFormat } from '@g3n/engine';
import { el, formatBytes, formatCount } from './format.ts';
import { DEMO_CONTEXT, findOption, matformerFamily, sizeFigures, type MatformerFamily, type SizeOption } from './matformer.ts';
import type { ModelChoice } from './models.ts';

export const AUTO = 'auto';

const QUANTS = new Set<WeightFormat>(['auto', 'f32', 'bf16', 'f16', 'q8', 'q4']);

export interface SizeSelectElements {
  row: HTMLElement;
  select: HTMLSelectElement;
  detail: HTMLElement;
  quant: HTMLSelectElement;
}

const mmluText = (o: SizeOption): string => (o.mmlu === null ? 'MMLU —' : `MMLU ${o.mmlu.toFixed(1)}%`);

export class SizeSelect {
  private family: MatformerFamily | null = null;
  private choice: ModelChoice | null = null;

  constructor(private readonly els: SizeSelectElements) {
    els.select.addEventListener('change', () => this.describe());
    els.quant.addEventListener('change', () => this.render(els.select.value));
  }

  /** Offer the configurations of `choice` (hidden when it has none); select `preselect` when it names one, else keep the selection. */
  show(choice: ModelChoice, preselect: string | null = null): void {
    const same = choice === this.choice;
    this.choice = choice;
    this.family = matformerFamily(choice);
    this.els.row.hidden = this.family === null;
    if (!this.family) {
      this.els.select.replaceChildren();
      this.els.detail.textContent = '';
      return;
    }
    const wanted = preselect === null ? (same ? this.els.select.value : AUTO) : preselect.toLowerCase() === AUTO ? AUTO : (findOption(this.family, preselect)?.slice.name ?? AUTO);
    this.render(wanted);
  }

  quant(): WeightFormat {
    const q = this.els.quant.value as WeightFormat;
    return QUANTS.has(q) ? q : 'auto';
  }

  /** The MatFormer load options for the selection: none for a model without configurations. */
  loadOptions(): Pick<LoadOptions, 'matformer' | 'matformerCandidates'> {
    if (!this.family) return {};
    const value = this.els.select.value;
    if (value === AUTO) return this.family.candidates ? { matformer: AUTO, matformerCandidates: this.family.candidates } : { matformer: AUTO };
    const option = this.family.sizes.find((o) => o.slice.name === value);
    return option ? { matformer: option.request } : {};
  }

  /** The selection's label: "auto", a configuration's name, or null without configurations. */
  selection(): string | null {
    return this.family ? this.els.select.value : null;
  }

  private render(selected: string): void {
    const family = this.family;
    if (!family) return;
    const quant = this.quant();
    const options = family.sizes.map((o) => {
      const f = sizeFigures(family, o, quant);
      const text = `${o.slice.name} · ${o.numLayers} layers · ${formatBytes(f.downloadBytes)} download · ${formatBytes(f.gpuBytes)} GPU · ${mmluText(o)}`;
      return el('option', text, {
        value: o.slice.name,
        'data-layers': String(o.numLayers),
        'data-download': String(f.downloadBytes),
        'data-gpu': String(f.gpuBytes),
        'data-mmlu': o.mmlu === null ? '' : String(o.mmlu),
      });
    });
    this.els.select.replaceChildren(el('option', 'Auto (largest that fits)', { value: AUTO }), ...options);
    this.els.select.value = family.sizes.some((o) => o.slice.name === selected) ? selected : AUTO;
    this.describe();
  }

  private describe(): void {
    const family = this.family;
    if (!family) return;
    const option = family.sizes.find((o) => o.slice.name === this.els.select.value);
    if (!option) {
      this.els.detail.textContent = `The engine loads the largest configuration whose weights, KV caches and workspaces fit this GPU's buffer limits and the memory this device reports (${family.sizes.length} to choose from).`;
      return;
    }
    const f = sizeFigures(family, option, this.quant());
    const params = option.effectiveParams >= 1e8 ? `${formatCount(option.effectiveParams / 1e9, 2)} B effective parameters` : `${formatCount(option.effectiveParams / 1e6, 2)} M effective parameters`;
    const quality = option.mmlu === null ? 'no published quality' : `published MMLU (pre-trained) ${option.mmlu.toFixed(1)}%`;
    this.els.detail.textContent =
      `${option.slice.name}: ${option.numLayers} of ${family.parent.numLayers} layers, ${params}; downloads ${formatBytes(f.downloadBytes)} (${family.stored}); ` +
      `on the GPU ${formatBytes(f.gpuBytes)}: ${f.format} weights ${formatBytes(f.weightBytes)} + KV cache ${formatBytes(f.kvCacheBytes)} at ${DEMO_CONTEXT.toLocaleString('en')} tokens; ${quality}.`;
  }
}
