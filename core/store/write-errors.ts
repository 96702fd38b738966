/**
 * Unique inserts are how the hub claims and deduplicates (claims.ts): an unordered insert's
 * duplicate-key errors are answers, not failures. This reads them.
 */
interface MongoWriteError {
  code?: number;
  writeErrors?: { code?: number; index?: number; err?: { code?: number; index?: number } }[];
}

const DUPLICATE_KEY = 11000;

/** A single write that hit an existing `_id` or unique key. */
export function isDuplicateKey(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === DUPLICATE_KEY;
}

/**
 * The indexes of the `count` inserted documents that hit an existing `_id` (or unique key);
 * rethrows any other error.
 */
export function duplicateIndexes(err: unknown, count: number): Set<number> {
  const e = err as MongoWriteError;
  const writeErrors = e.writeErrors ?? [];
  if (writeErrors.length === 0) {
    if (e.code === DUPLICATE_KEY && count === 1) return new Set([0]);
    throw err;
  }
  const lost = new Set<number>();
  for (const we of writeErrors) {
    const code = we.code ?? we.err?.code;
    const index = we.index ?? we.err?.index;
    if (code !== DUPLICATE_KEY || index === undefined) throw err;
    lost.add(index);
  }
  return lost;
}

/** Inserts unordered; returns the indexes that were duplicates. */
export async function insertUnordered(
  collection: { insertMany(docs: never[], opts: { ordered: false }): Promise<unknown> },
  docs: object[],
): Promise<Set<number>> {
  if (docs.length === 0) return new Set();
  try {
    await collection.insertMany(docs as never[], { ordered: false });
    return new Set();
  } catch (err) {
    return duplicateIndexes(err, docs.length);
  }
}
