/**
 * Where a backup repository keeps its objects (docs/backup.md). Every object
 * is immutable once written: names are content addresses or unique IDs, so
 * the only write is a conditional create, and the only other change is a
 * delete (by prune, gc and a backup's own session records). A local
 * directory implements it (dir-store.ts); an S3 bucket does too (PUT with
 * If-None-Match: *), without anything above this interface changing.
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
  /**
   * Every object under `prefix` (which ends with '/'), at any depth, with
   * its size and last-modified time, in no promised order. Temporary
   * objects of a create in progress are never listed.
   */
  listTree(prefix: string): AsyncIterable<StoredObject>;
  /** Removes the object, durably; removing one that is not there is not an error. */
  delete(name: string): Promise<void>;
  /**
   * Removes what creates that never finished left behind (a local
   * directory's temporary files) when it is older than `olderThanMs`
   * (epoch milliseconds); returns how many. Stores that leave nothing
   * behind do not have it.
   */
  sweepTemporaries?(olderThanMs: number): Promise<number>;
}

/** One object as `listTree` gives it. */
export interface StoredObject {
  /** The object's full name, e.g. `chunks/ab/ab12…`. */
  name: string;
  /** Its size in bytes. */
  size: number;
  /** When it was created (objects are never rewritten), epoch milliseconds. */
  modifiedMs: number;
}
