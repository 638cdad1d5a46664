/**
 * The one error type vdisk throws for anything about an image or its use.
 * `code` says which class of problem (docs/architecture.md), `details` carries the
 * offending values (field, value, limit, path) for `--json` output and tests.
 */
export type ErrorCode =
  | 'INVALID_FORMAT'
  | 'UNSUPPORTED'
  | 'CORRUPT'
  | 'OUT_OF_RANGE'
  | 'PARENT'
  | 'IO'
  | 'USAGE';

/** Where an error happened: the file or URL, the byte offset when one applies, and what was being done. */
export interface ErrorContext {
  path?: string;
  offset?: number;
  operation?: string;
}

/**
 * An error with a stable code and the values that caused it. Its context
 * (path or URL, offset, operation) lives in `details` too, filled in by the
 * layers it passes through when the thrower did not know it.
 */
export class DiskImageError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'DiskImageError';
    this.code = code;
    this.details = details;
  }

  /** The file or URL the error is about, when known. */
  get path(): string | undefined {
    return typeof this.details.path === 'string' ? this.details.path : undefined;
  }

  /** The byte offset (in the file, or the guest view for reads and writes) the error is about, when one applies. */
  get offset(): number | undefined {
    return typeof this.details.offset === 'number' ? this.details.offset : undefined;
  }

  /** What was being done: open, read, write, decompress, ... */
  get operation(): string | undefined {
    return typeof this.details.operation === 'string' ? this.details.operation : undefined;
  }

  /** The one-line text: the message, prefixed by the path and followed by the operation and offset when it does not say them. */
  describe(): string {
    const { path, offset, operation } = this;
    const where = path !== undefined && !this.message.includes(path) ? `${path}: ` : '';
    const at = offset !== undefined && !this.message.includes(String(offset)) ? ` at byte ${offset}` : '';
    const what = operation !== undefined && at ? ` (${operation}${at})` : '';
    return `${where}${this.message}${what}`;
  }
}

/** Adds to a DiskImageError the context it lacks (never overwriting what it has) and returns it; other errors pass unchanged. */
export function withContext(err: unknown, context: ErrorContext): unknown {
  if (!(err instanceof DiskImageError)) return err;
  for (const [k, v] of Object.entries(context)) if (v !== undefined && err.details[k] === undefined) err.details[k] = v;
  return err;
}

/** Wraps a Node system error (ENOENT, ENOSPC, ...) as an `IO` DiskImageError naming the path. */
export function ioError(err: unknown, path: string, action: string): DiskImageError {
  if (err instanceof DiskImageError) return err;
  const e = err as NodeJS.ErrnoException;
  const reason = e?.code ?? (e instanceof Error ? e.message : String(err));
  const text = e?.code === 'ENOENT' ? 'no such file' : e?.code === 'ENOSPC' ? 'no space left on device' : reason;
  return new DiskImageError('IO', `cannot ${action} ${path}: ${text}`, { path, errno: e?.code });
}
