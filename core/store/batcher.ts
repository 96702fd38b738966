/**
 * Group commit: single calls made at about the same time (the dispatcher's concurrent sends)
 * become one database command. FerretDB spends per command what MongoDB spends per document, so
 * one `$in` lookup or one unordered insert of 64 costs about what one of them did alone.
 *
 * A call waits at most `windowMs` (or until `maxBatch` calls are waiting); every caller of a
 * batch gets its own result, or the batch's error.
 */
export interface BatcherOptions {
  windowMs?: number;
  maxBatch?: number;
}

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (err: unknown) => void;
}

export class Batcher<I, O> {
  private readonly run: (items: I[]) => Promise<O[]>;
  private readonly windowMs: number;
  private readonly maxBatch: number;
  private waiting: Waiting<I, O>[] = [];
  private timer: NodeJS.Timeout | undefined;

  /** `run` returns one result per item, in the items' order. */
  constructor(run: (items: I[]) => Promise<O[]>, opts: BatcherOptions = {}) {
    this.run = run;
    this.windowMs = opts.windowMs ?? 2;
    this.maxBatch = opts.maxBatch ?? 500;
  }

  call(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.waiting.length >= this.maxBatch) this.fire();
      else this.timer ??= setTimeout(() => this.fire(), this.windowMs);
    });
  }

  private fire(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting;
    this.waiting = [];
    if (batch.length === 0) return;
    this.run(batch.map((w) => w.item)).then(
      (results) => {
        if (results.length !== batch.length) {
          const err = new Error(`batch returned ${results.length} results for ${batch.length} items`);
          for (const w of batch) w.reject(err);
          return;
        }
        batch.forEach((w, i) => w.resolve(results[i]!));
      },
      (err: unknown) => {
        for (const w of batch) w.reject(err);
      },
    );
  }
}
