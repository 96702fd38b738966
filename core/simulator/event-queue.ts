/** A binary min-heap of timed events; ties keep insertion order, so runs are deterministic. */

interface Entry<T> {
  at: number;
  seq: number;
  value: T;
}

export class EventQueue<T> {
  readonly #heap: Entry<T>[] = [];
  #seq = 0;

  get size(): number {
    return this.#heap.length;
  }

  push(at: number, value: T): void {
    const heap = this.#heap;
    heap.push({ at, seq: this.#seq++, value });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  /** Time of the earliest event, or undefined when empty. */
  peekTime(): number | undefined {
    return this.#heap[0]?.at;
  }

  pop(): { at: number; value: T } | undefined {
    const heap = this.#heap;
    const top = heap[0];
    if (!top) return undefined;
    const last = heap.pop() as Entry<T>;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && this.#less(l, m)) m = l;
        if (r < heap.length && this.#less(r, m)) m = r;
        if (m === i) break;
        this.#swap(i, m);
        i = m;
      }
    }
    return { at: top.at, value: top.value };
  }

  #less(i: number, j: number): boolean {
    const a = this.#heap[i] as Entry<T>;
    const b = this.#heap[j] as Entry<T>;
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #swap(i: number, j: number): void {
    const heap = this.#heap;
    const t = heap[i] as Entry<T>;
    heap[i] = heap[j] as Entry<T>;
    heap[j] = t;
  }
}
