/** A set of recent keys with a size cap: past it the oldest key goes (webhook dedup, recently finished jobs). */

export class BoundedSet {
  private readonly keys = new Set<string>();

  constructor(readonly capacity: number) {}

  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** add remembers key as the newest; returns false when it was already there. */
  add(key: string): boolean {
    if (this.keys.has(key)) return false;
    if (this.keys.size >= this.capacity) {
      const oldest = this.keys.values().next().value;
      if (oldest !== undefined) this.keys.delete(oldest);
    }
    this.keys.add(key);
    return true;
  }

  get size(): number {
    return this.keys.size;
  }

  /** values lists the keys oldest first, for a snapshot. */
  values(): string[] {
    return [...this.keys];
  }
}
