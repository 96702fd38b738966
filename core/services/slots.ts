/**
 * At most `size` holders at a time; the others wait in order. The scheduler's sends take one
 * each, whether a claim round or a timer (work claimed ahead of its time) starts them, so that
 * `scheduler.concurrency` bounds the node's sends in flight.
 */
export class Slots {
  private readonly size: number;
  private held = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.size = Math.max(1, size);
  }

  /** Runs `task` in a slot, once one is free. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.held >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.held += 1;
    try {
      return await task();
    } finally {
      // The slot passes to the next in line as it is (held stays), or is given back.
      const next = this.waiting.shift();
      if (next) next();
      else this.held -= 1;
    }
  }

  /** Tasks running now. */
  get busy(): number {
    return this.held;
  }
}
