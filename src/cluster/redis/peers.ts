/**
 * How many other nodes exist, as far as this node can tell. A broadcast whose publish never
 * reported its receiver count (Redis down) still has to say how many nodes it did not reach;
 * this is the answer: the largest broadcast audience seen lately, or the number of nodes
 * heard from lately, whichever is larger. Both are forgotten after {@link PEER_MEMORY_MS}.
 */

/** How long the largest peer count seen stays the answer when Redis is down. */
export const PEER_MEMORY_MS = 60_000;

export class PeerMemory {
  #audience = { count: 0, at: 0 };
  readonly #heardFrom = new Map<number, number>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A broadcast reached `count` other nodes; a smaller count replaces a larger one only once that is old. */
  noteAudience(count: number): void {
    const now = this.#now();
    if (count >= this.#audience.count || now - this.#audience.at > PEER_MEMORY_MS) this.#audience = { count, at: now };
  }

  /** A message came from node `id`. */
  heardFrom(id: number): void {
    this.#heardFrom.set(id, this.#now());
  }

  /** Other nodes known to exist lately. */
  known(): number {
    const now = this.#now();
    for (const [id, at] of this.#heardFrom) if (now - at > PEER_MEMORY_MS) this.#heardFrom.delete(id);
    return Math.max(now - this.#audience.at > PEER_MEMORY_MS ? 0 : this.#audience.count, this.#heardFrom.size);
  }
}
