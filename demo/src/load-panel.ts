/**
 * The load panel: one row per loading phase the engine reports (config, tokenizer, weights,
 * compile; any other phase name gets a row of its own), each with a progress bar, bytes or steps,
 * and for the weights the speed and the time left; under it, where the weight bytes came from
 * (network or IndexedDB cache) as the engine Worker counts them.
 */
import type { Traffic } from '@g3n/embed';
import type { LoadProgress } from '@g3n/engine';
import { el, formatBytes, formatDuration, formatRate } from './format.ts';

const LABELS: Record<string, string> = {
  config: 'Config and tensor index',
  tokenizer: 'Tokenizer',
  weights: 'Weights: download or cache, then upload to the GPU',
  compile: 'Compile the GPU pipelines',
};
const BYTE_PHASES = new Set(['weights', 'download', 'cache', 'upload']);

interface Row {
  li: HTMLLIElement;
  bar: HTMLProgressElement;
  detail: HTMLSpanElement;
  started: number;
}

export class LoadPanel {
  private rows = new Map<string, Row>();
  private traffic: Traffic = { networkBytes: 0, cacheBytes: 0, notStoredBytes: 0 };
  private started = 0;

  constructor(
    private readonly list: HTMLOListElement,
    private readonly trafficLine: HTMLElement,
  ) {}

  start(): void {
    this.rows.clear();
    this.list.replaceChildren();
    this.traffic = { networkBytes: 0, cacheBytes: 0, notStoredBytes: 0 };
    this.started = performance.now();
    this.trafficLine.textContent = '';
    for (const phase of Object.keys(LABELS)) this.row(phase);
  }

  progress(p: LoadProgress): void {
    if (p.phase === 'ready') {
      for (const row of this.rows.values()) this.done(row);
      return;
    }
    const row = this.row(p.phase);
    for (const other of this.rows.values()) {
      if (other === row) break;
      if (other.li.dataset.state !== 'done') this.done(other);
    }
    row.li.dataset.state = p.total > 0 && p.loaded >= p.total ? 'done' : 'active';
    row.bar.max = Math.max(p.total, 1);
    row.bar.value = Math.min(p.loaded, row.bar.max);
    if (!BYTE_PHASES.has(p.phase)) {
      row.detail.textContent = `${p.loaded} of ${p.total}`;
      return;
    }
    const seconds = (performance.now() - row.started) / 1000;
    const rate = seconds > 0 ? p.loaded / seconds : 0;
    const left = rate > 0 ? (p.total - p.loaded) / rate : null;
    const parts = [`${formatBytes(p.loaded)} of ${formatBytes(p.total)}`, formatRate(rate)];
    if (p.loaded < p.total) parts.push(left !== null && left < 1 ? 'almost done' : `about ${formatDuration(left)} left`);
    row.detail.textContent = parts.join(' · ');
  }

  onTraffic(t: Traffic): void {
    this.traffic = t;
    const seconds = (performance.now() - this.started) / 1000;
    const parts = [`Downloaded ${formatBytes(t.networkBytes)}${t.networkBytes > 0 && seconds > 0 ? ` (${formatRate(t.networkBytes / seconds)})` : ''}`, `from the cache ${formatBytes(t.cacheBytes)}`];
    if (t.notStoredBytes > 0) parts.push(`${formatBytes(t.notStoredBytes)} could not be stored (storage is full): they will be downloaded again next time`);
    this.trafficLine.textContent = `${parts.join(' · ')}.`;
  }

  /** The load ended: mark the running phase failed (or everything done). */
  finish(ok: boolean): void {
    for (const row of this.rows.values()) {
      if (ok) this.done(row);
      else if (row.li.dataset.state === 'active') row.li.dataset.state = 'failed';
    }
    const seconds = (performance.now() - this.started) / 1000;
    if (ok) this.trafficLine.textContent = `${this.trafficLine.textContent} Loaded in ${formatDuration(seconds)}.`.trim();
  }

  private done(row: Row): void {
    row.li.dataset.state = 'done';
    row.bar.value = row.bar.max;
    if (!row.detail.textContent) row.detail.textContent = 'done';
  }

  private row(phase: string): Row {
    const found = this.rows.get(phase);
    if (found) {
      if (found.li.dataset.state === 'pending') found.started = performance.now();
      return found;
    }
    const label = LABELS[phase] ?? phase;
    const li = el('li', '', { 'data-phase': phase, 'data-state': 'pending' });
    const name = el('span', label, { class: 'phase-name' });
    const bar = el('progress', '', { 'aria-label': label });
    bar.max = 1;
    bar.value = 0;
    const detail = el('span', '', { class: 'phase-detail' });
    li.append(name, bar, detail);
    this.list.append(li);
    const row = { li, bar, detail, started: performance.now() };
    this.rows.set(phase, row);
    return row;
  }
}
