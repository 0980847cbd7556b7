/**
 * The storage view: every model in the weights cache (IndexedDB, this origin only) with its size
 * and a delete button, the origin's usage against its quota, and a "delete all" button.
 */
import { clearCache, deleteCachedModel, listCachedModels, type CachedModel } from '@g3n/embed';
import { el, formatBytes } from './format.ts';

export interface StorageEstimateLine {
  usage: number;
  quota: number;
  free: number;
}

/** navigator.storage.estimate() in bytes, or null where the browser has no Storage API. */
export async function estimateStorage(): Promise<StorageEstimateLine | null> {
  const estimate = await navigator.storage?.estimate?.().catch(() => null);
  if (!estimate || estimate.quota === undefined) return null;
  const usage = estimate.usage ?? 0;
  return { usage, quota: estimate.quota, free: Math.max(0, estimate.quota - usage) };
}

export class StoragePanel {
  constructor(
    private readonly list: HTMLUListElement,
    private readonly quotaLine: HTMLElement,
    private readonly clearButton: HTMLButtonElement,
    private readonly nameOf: (id: string) => string,
    private readonly onChange: () => void = () => undefined,
  ) {
    clearButton.addEventListener('click', async () => {
      if (!confirm('Delete every cached model? They will be downloaded again when loaded.')) return;
      await clearCache();
      await this.refresh();
      this.onChange();
    });
  }

  async refresh(): Promise<void> {
    const [models, estimate] = await Promise.all([listCachedModels().catch(() => [] as CachedModel[]), estimateStorage()]);
    this.quotaLine.textContent = estimate
      ? `This site uses ${formatBytes(estimate.usage)} of ${formatBytes(estimate.quota)}; ${formatBytes(estimate.free)} free.`
      : 'This browser does not report its storage quota.';
    this.clearButton.disabled = models.length === 0;
    if (models.length === 0) {
      this.list.replaceChildren(el('li', 'No models are cached yet.', { class: 'muted' }));
      return;
    }
    this.list.replaceChildren(...models.map((m) => this.item(m)));
  }

  private item(m: CachedModel): HTMLLIElement {
    const name = this.nameOf(m.id);
    const li = el('li', '', { 'data-model': m.id });
    const text = el('div', '', { class: 'cached-text' });
    text.append(el('strong', name), el('span', ` ${formatBytes(m.bytes)}`, { 'data-testid': 'cached-size' }), el('br'), el('span', m.id, { class: 'muted small url' }));
    if (m.completeShards < m.shards) text.append(el('span', ` (partial: ${m.completeShards} of ${m.shards} parts complete)`, { class: 'muted small' }));
    const remove = el('button', 'Delete', { type: 'button', class: 'secondary', 'aria-label': `Delete ${name} from the cache` });
    remove.addEventListener('click', async () => {
      remove.disabled = true;
      await deleteCachedModel(m.id, m.revision);
      await this.refresh();
      this.onChange();
    });
    li.append(text, remove);
    return li;
  }
}
