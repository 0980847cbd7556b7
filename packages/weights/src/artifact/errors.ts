import { G3nError } from '@g3n/gpu/errors';

/** manifest.json is not a g3n artifact manifest this runtime can read; `field` is the JSON path that failed. */
export class BadManifestError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'BadManifestError';
  readonly field: string;

  constructor(field: string, message: string, file = 'manifest.json') {
    super('BAD_MANIFEST', `${file}: ${field} ${message}. Convert the model again with \`pnpm g3n convert\` or download a complete artifact.`, { field, file });
    this.field = field;
  }
}

/** A shard's bytes do not hash to the sha256 its manifest lists (in a browser: even after one fresh download). */
export class IntegrityError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'IntegrityError';
  constructor(file: string, expected: string, actual: string, downloads = 0) {
    const tries = downloads > 0 ? ` after ${downloads} download${downloads > 1 ? 's' : ''}` : '';
    super('INTEGRITY', `${file}: sha256 ${actual} does not match the manifest's ${expected}${tries}. The file or the server is damaged; convert or upload the artifact again.`, { file, expected, actual, downloads });
  }
}

/** The browser's storage cannot hold the model (checked before downloading, or hit while storing). */
export class QuotaError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'QuotaError';
  readonly neededBytes: number;
  readonly freeBytes: number;

  constructor(neededBytes: number, freeBytes: number) {
    const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
    super('QUOTA_EXCEEDED', `The model needs ${mb(neededBytes)} more storage but only ${mb(freeBytes)} is free. Free some space (delete cached models or site data) and load again; what was already stored is kept.`, { neededBytes, freeBytes });
    this.neededBytes = neededBytes;
    this.freeBytes = freeBytes;
  }
}

/** The caller's AbortSignal fired; what was stored so far is kept and a later load resumes. */
export class AbortedError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'AbortedError';
  constructor(what: string) {
    super('ABORTED', `${what} was cancelled. Load again to resume; stored bytes are kept.`);
  }
}
