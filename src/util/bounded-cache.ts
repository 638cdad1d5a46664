/**
 * A map of promises with a size limit: when full it starts over (metadata
 * such as sector bitmaps is cheap to read again); a failed load is forgotten.
 */
export class BoundedCache<K, V> {
  private readonly map = new Map<K, Promise<V>>();

  constructor(private readonly limit: number) {}

  /** The cached value for `key`, loading it once when absent. */
  get(key: K, load: () => Promise<V>): Promise<V> {
    let p = this.map.get(key);
    if (!p) {
      if (this.map.size >= this.limit) this.map.clear();
      p = load();
      p.catch(() => this.map.delete(key));
      this.map.set(key, p);
    }
    return p;
  }

  /** Replaces the cached value for `key` (a writer that just stored it). */
  set(key: K, value: V): void {
    if (!this.map.has(key) && this.map.size >= this.limit) this.map.clear();
    this.map.set(key, Promise.resolve(value));
  }
}
