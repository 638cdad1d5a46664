/**
 * Where a backup repository keeps its objects (docs/backup.md). Every object
 * is immutable once written: names are content addresses or unique snapshot
 * IDs, so the only write is a conditional create. A local directory
 * implements it (dir-store.ts); an S3 bucket can (PUT with If-None-Match: *)
 * without anything above this interface changing.
 */
export interface ObjectStore {
  /** Where the store is, for messages (a directory path, a bucket URL). */
  readonly location: string;
  /**
   * Creates `name` holding `data`, durably and atomically: a reader sees
   * the whole object or none. Returns false, writing nothing, when the
   * object already exists.
   */
  create(name: string, data: Uint8Array): Promise<boolean>;
  /** The object's bytes, or undefined when there is none; an object larger than `maxBytes` is `CORRUPT` and is not read. */
  get(name: string, maxBytes: number): Promise<Uint8Array | undefined>;
  /** True when the object exists. */
  exists(name: string): Promise<boolean>;
  /** The names of the objects directly under `prefix` (which ends with '/'), sorted; none when there are none. */
  list(prefix: string): Promise<string[]>;
}
