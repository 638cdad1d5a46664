/**
 * The one error type vdisk throws for anything about an image or its use.
 * `code` says which class of problem (see DESIGN.md), `details` carries the
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

/** An error with a stable code and the values that caused it. */
export class DiskImageError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'DiskImageError';
    this.code = code;
    this.details = details;
  }
}

/** Wraps a Node system error (ENOENT, ENOSPC, ...) as an `IO` DiskImageError naming the path. */
export function ioError(err: unknown, path: string, action: string): DiskImageError {
  if (err instanceof DiskImageError) return err;
  const e = err as NodeJS.ErrnoException;
  const reason = e?.code ?? (e instanceof Error ? e.message : String(err));
  const text = e?.code === 'ENOENT' ? 'no such file' : e?.code === 'ENOSPC' ? 'no space left on device' : reason;
  return new DiskImageError('IO', `cannot ${action} ${path}: ${text}`, { path, errno: e?.code });
}
