/** A set of recent keys with a size cap: past it the oldest key goes (webhook dedup, recently finished jobs). */

/**
 * BoundedSet keeps insertion order in a ring, not in the Set: evicting the oldest from a Set via
 * `values().next()` walks over every deleted slot left at its front, which turned a full set quadratic.
 */
export class BoundedSet {
  private readonly keys = new Set<string>();
  private readonly ring: (string | undefined)[];
  /** Slot of the oldest key when the ring is full; the next slot to write. */
  private head = 0;

  constructor(
    readonly capacity: number,
    /** Called with each key forgotten to make room, so the table can count it. */
    private readonly onEvict: () => void = () => {},
  ) {
    this.ring = new Array<string | undefined>(capacity).fill(undefined);
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** add remembers key as the newest; returns false when it was already there. */
  add(key: string): boolean {
    if (this.keys.has(key)) return false;
    const oldest = this.ring[this.head];
    if (oldest !== undefined) {
      this.keys.delete(oldest);
      this.onEvict();
    }
    this.ring[this.head] = key;
    this.head = (this.head + 1) % this.capacity;
    this.keys.add(key);
    return true;
  }

  get size(): number {
    return this.keys.size;
  }

  /** values lists the keys oldest first, for a snapshot. */
  values(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.capacity; i++) {
      const k = this.ring[(this.head + i) % this.capacity];
      if (k !== undefined) out.push(k);
    }
    return out;
  }
}
