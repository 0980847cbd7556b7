/**
 * Load progress: one tracker per load turns the loader's steps and the FileSource's reads into
 * LoadProgress events. While the weights load, every read the FileSource reports is a `download`
 * or a `cache` event by where its bytes came from. The loader reads the weights in order and hands
 * each piece to the GPU before it reads the next, so when a read arrives the bytes read before it
 * are on the GPU: an `upload` event (and the last ones when the weights are done).
 *
 * A load that fetches the weights ahead (an artifact into the weights cache, before the working model
 * is let go) reports what it fetched as `download` / `cache` events only (`weightsAhead`,
 * `fetchedAhead`); once they are local (`weightsLocal`) the loader's reads, from the cache, move the
 * `upload` events alone.
 */
import type { ReadListener } from '@g3n/weights';
import type { LoadPhase, LoadProgress } from './types.ts';

type BytePhase = 'download' | 'cache' | 'upload';
type StepPhase = Exclude<LoadPhase, BytePhase>;

interface Rate {
  bytes: number;
  /** When the phase's bytes started to move (ms). */
  since: number;
}

export class LoadTracker {
  private totalBytes = 0;
  private obtained = 0;
  /** Bytes the loader has read (handed to the GPU by the time it reads the next). */
  private handed = 0;
  private uploaded = 0;
  /** direct: reads are obtained and handed over; ahead: fetched ahead (fetchedAhead), reads ignored; local: reads are handed over only. */
  private mode: 'direct' | 'ahead' | 'local' = 'direct';
  private allCached: boolean | null = null;
  private weights = false;
  private verified: boolean | undefined;
  private readonly rates = new Map<BytePhase, Rate>();

  constructor(
    private readonly emit: (p: LoadProgress) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Handed to the FileSource: each read's size and whether it came from the cache. */
  readonly onRead: ReadListener = (bytes, fromCache) => {
    if (!this.weights || this.mode === 'ahead') return;
    this.flushUpload();
    if (this.mode === 'direct') this.obtain(bytes, fromCache);
    this.handed += bytes;
  };

  /** While the weights are fetched ahead: `bytes` of them are local, from the cache or downloaded. */
  readonly fetchedAhead = (bytes: number, fromCache: boolean): void => {
    if (this.weights && this.mode === 'ahead') this.obtain(bytes, fromCache);
  };

  private obtain(bytes: number, fromCache: boolean): void {
    this.obtained += bytes;
    this.allCached = (this.allCached ?? true) && fromCache;
    this.advance(fromCache ? 'cache' : 'download', bytes, this.obtained);
  }

  /** The weights are opened: whether their bytes are checked against hashes as they are read. */
  weightsVerified(verified: boolean): void {
    this.verified = verified;
  }

  /** A phase measured in steps (config, tokenizer, compile, ready). */
  step(phase: StepPhase, loaded: number, total: number): void {
    this.emit({ ...this.common(phase), bytesPerSecond: 0, etaSeconds: null, loaded, total });
  }

  /** The weights start to load: `bytes` of them, as stored. */
  weightsStart(bytes: number): void {
    this.totalBytes = bytes;
    this.weights = true;
    const now = this.now();
    for (const phase of ['download', 'cache', 'upload'] as const) this.rates.set(phase, { bytes: 0, since: now });
  }

  /** The weights are fetched ahead of the loader (reported by `fetchedAhead`): `bytes` of them (the total from here on). */
  weightsAhead(bytes: number): void {
    this.weightsStart(bytes);
    this.mode = 'ahead';
  }

  /** What was fetched ahead is local: the loader's reads that follow only move the upload. */
  weightsLocal(): void {
    this.mode = 'local';
    this.rates.set('upload', { bytes: 0, since: this.now() });
  }

  /** Every weight is read and on the GPU. A total that missed what the source reported reading is corrected to it. */
  weightsDone(): void {
    const read = Math.max(this.obtained, this.handed);
    if (read > 0) this.totalBytes = read;
    this.flushUpload();
    this.weights = false;
  }

  private flushUpload(): void {
    const bytes = this.handed - this.uploaded;
    if (bytes === 0) return;
    this.uploaded = this.handed;
    this.advance('upload', bytes, this.uploaded);
  }

  private advance(phase: BytePhase, bytes: number, loaded: number): void {
    const rate = this.rates.get(phase) as Rate;
    rate.bytes += bytes;
    const seconds = (this.now() - rate.since) / 1000;
    const bytesPerSecond = seconds > 0 ? rate.bytes / seconds : 0;
    const shown = Math.min(loaded, this.totalBytes);
    const left = this.totalBytes - shown;
    const etaSeconds = left === 0 ? 0 : bytesPerSecond > 0 ? left / bytesPerSecond : null;
    this.emit({ ...this.common(phase), loadedBytes: shown, bytesPerSecond, etaSeconds, loaded: shown, total: this.totalBytes });
  }

  private common(phase: LoadPhase): Pick<LoadProgress, 'phase' | 'loadedBytes' | 'totalBytes' | 'fromCache' | 'verified'> {
    const c = { phase, loadedBytes: Math.min(this.obtained, this.totalBytes), totalBytes: this.totalBytes, fromCache: this.allCached === true };
    return this.verified === undefined ? c : { ...c, verified: this.verified };
  }
}
