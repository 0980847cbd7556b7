/**
 * The load panel: one row per loading phase the engine reports (config, tokenizer, weights, compile),
 * each with a progress bar and its steps or bytes. The weights row shows the bytes obtained of the
 * total, their speed and the time left; under it, one row per way the bytes moved, as the engine
 * reports them: downloaded from the network, read from the IndexedDB cache, uploaded to the GPU, each
 * with its bytes, speed and time left. Under the list, where the bytes came from as the engine Worker
 * counts them (config and tokenizer files included).
 *
 * The first image or clip of a session loads the model's vision or audio tower with the same events
 * (marked with `tower`): the panel then shows that tower's weights the same way, and under them where
 * its bytes came from (after one online use, all of them from the cache).
 */
import type { Traffic } from '@g3n/embed';
import type { LoadProgress } from '@g3n/engine';
import { el, formatBytes, formatDuration, formatRate } from './format.ts';

const LABELS: Record<string, string> = {
  config: 'Config and tensor index',
  tokenizer: 'Tokenizer',
  weights: 'Weights',
  compile: 'Compile the GPU pipelines',
};
const TOWER_LABELS: Record<NonNullable<LoadProgress['tower']>, string> = {
  vision: 'Vision tower (first image)',
  audio: 'Audio tower (first clip)',
};
const WEIGHT_LABELS: Record<string, string> = {
  download: 'Downloaded',
  cache: 'From the cache',
  upload: 'Uploaded to the GPU',
};

interface Row {
  li: HTMLLIElement;
  bar: HTMLProgressElement;
  detail: HTMLSpanElement;
}

function makeRow(phase: string, label: string): Row {
  const li = el('li', '', { 'data-phase': phase, 'data-state': 'pending' });
  const bar = el('progress', '', { 'aria-label': label });
  bar.max = 1;
  bar.value = 0;
  const detail = el('span', '', { class: 'phase-detail' });
  li.append(el('span', label, { class: 'phase-name' }), bar, detail);
  return { li, bar, detail };
}

/** "1.2 MB of 3.0 MB · 2.0 MB/s · about 1 s left" (the time left only while the phase runs). */
function bytesLine(done: number, total: number, p: LoadProgress): string {
  const parts = [`${formatBytes(done)} of ${formatBytes(total)}`, formatRate(p.bytesPerSecond)];
  if (p.etaSeconds !== 0) parts.push(p.etaSeconds === null ? 'time left unknown' : p.etaSeconds < 1 ? 'almost done' : `about ${formatDuration(p.etaSeconds)} left`);
  return parts.join(' · ');
}

export class LoadPanel {
  private rows = new Map<string, Row>();
  private weightRows = new Map<string, Row>();
  private sources: HTMLOListElement | null = null;
  /** Bytes each source (download, cache) brought, from the engine's running total. */
  private fromSource = new Map<string, number>();
  private obtained = 0;
  private started = 0;
  /** The tower whose load the panel shows, or null for the model's. */
  private tower: LoadProgress['tower'] | null = null;

  constructor(
    private readonly list: HTMLOListElement,
    private readonly trafficLine: HTMLElement,
  ) {}

  start(): void {
    this.reset(LABELS);
    this.tower = null;
  }

  private reset(labels: Record<string, string>): void {
    this.rows.clear();
    this.weightRows.clear();
    this.fromSource.clear();
    this.obtained = 0;
    this.list.replaceChildren();
    this.started = performance.now();
    this.trafficLine.textContent = '';
    for (const [phase, label] of Object.entries(labels)) {
      const row = makeRow(phase, label);
      this.list.append(row.li);
      this.rows.set(phase, row);
    }
    this.sources = el('ol', '', { class: 'phases', 'aria-label': 'Weight bytes by source', style: 'padding-left: 1rem' });
    this.rows.get('weights')?.li.append(this.sources);
  }

  /** A tower's load begins: its weights replace the model's rows. */
  private startTower(tower: NonNullable<LoadProgress['tower']>): void {
    this.reset({ weights: TOWER_LABELS[tower] });
    this.tower = tower;
  }

  progress(p: LoadProgress): void {
    if (p.tower !== undefined && p.tower !== this.tower) this.startTower(p.tower);
    if (p.phase === 'ready') {
      for (const row of [...this.rows.values(), ...this.weightRows.values()]) this.done(row);
      if (p.tower !== undefined) this.towerTraffic(p.tower);
      return;
    }
    const top = p.phase in WEIGHT_LABELS ? 'weights' : p.phase;
    const row = this.rows.get(top) ?? this.extraRow(top);
    for (const [phase, other] of this.rows) {
      if (other === row) break;
      this.done(other);
      if (phase === 'weights') for (const sub of this.weightRows.values()) this.done(sub);
    }
    if (top !== 'weights') {
      row.li.dataset.state = p.total > 0 && p.loaded >= p.total ? 'done' : 'active';
      row.bar.max = Math.max(p.total, 1);
      row.bar.value = Math.min(p.loaded, row.bar.max);
      row.detail.textContent = `${p.loaded} of ${p.total}`;
      return;
    }
    row.li.dataset.state = 'active';
    const sub = this.weightRow(p.phase);
    sub.li.dataset.state = 'active';
    sub.bar.max = Math.max(p.totalBytes, 1);
    if (p.phase === 'upload') {
      sub.bar.value = p.loadedBytes;
      sub.detail.textContent = bytesLine(p.loadedBytes, p.totalBytes, p);
      if (p.loadedBytes >= p.totalBytes) sub.li.dataset.state = 'done';
      return;
    }
    const mine = (this.fromSource.get(p.phase) ?? 0) + Math.max(0, p.loadedBytes - this.obtained);
    this.fromSource.set(p.phase, mine);
    this.obtained = p.loadedBytes;
    sub.bar.value = mine;
    sub.detail.textContent = bytesLine(mine, p.totalBytes, p);
    row.bar.max = Math.max(p.totalBytes, 1);
    row.bar.value = p.loadedBytes;
    row.detail.textContent = bytesLine(p.loadedBytes, p.totalBytes, p);
  }

  onTraffic(t: Traffic): void {
    const seconds = (performance.now() - this.started) / 1000;
    const parts = [`Downloaded ${formatBytes(t.networkBytes)}${t.networkBytes > 0 && seconds > 0 ? ` (${formatRate(t.networkBytes / seconds)})` : ''}`, `from the cache ${formatBytes(t.cacheBytes)}`];
    if (t.notStoredBytes > 0) parts.push(`${formatBytes(t.notStoredBytes)} could not be stored (storage is full): they will be downloaded again next time`);
    this.trafficLine.textContent = `${parts.join(' · ')}.`;
  }

  /** Where the tower's bytes came from, by the engine's download and cache events. */
  private towerTraffic(tower: NonNullable<LoadProgress['tower']>): void {
    const seconds = (performance.now() - this.started) / 1000;
    const name = tower === 'vision' ? 'Vision tower' : 'Audio tower';
    const parts = [`Downloaded ${formatBytes(this.fromSource.get('download') ?? 0)}`, `from the cache ${formatBytes(this.fromSource.get('cache') ?? 0)}`];
    this.trafficLine.textContent = `${name}: ${parts.join(' · ')}. Loaded in ${formatDuration(seconds)}.`;
  }

  /** The load ended: mark the running phase failed (or everything done). */
  finish(ok: boolean): void {
    for (const row of [...this.rows.values(), ...this.weightRows.values()]) {
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

  /** A row for a phase this panel has no label for, at the end of the list. */
  private extraRow(phase: string): Row {
    const row = makeRow(phase, phase);
    this.list.append(row.li);
    this.rows.set(phase, row);
    return row;
  }

  /** The weights' row for one source or the upload, in the order they first appear. */
  private weightRow(phase: string): Row {
    const found = this.weightRows.get(phase);
    if (found) return found;
    const row = makeRow(phase, WEIGHT_LABELS[phase] ?? phase);
    this.sources?.append(row.li);
    this.weightRows.set(phase, row);
    return row;
  }
}
