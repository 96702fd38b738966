/**
 * A plugin storage whose collections time their calls: where the plugin's time goes in
 * FerretDB (outbox insert, the flusher's reads, marks and deletes, the open-contact upserts),
 * by `<collection>.<method>`, a find counted when its cursor's toArray ends.
 */
import type { Document } from "mongodb";
import type { PluginStorage } from "@dialmesh/sdk";

export interface CallTimes {
  calls: number;
  totalMs: number;
  maxMs: number;
}

type Recorder = (name: string, ms: number) => void;

/** A cursor whose chained calls (sort, limit) stay timed and whose toArray records `name`. */
function timedCursor<T extends object>(cursor: T, name: string, record: Recorder): T {
  const started = performance.now();
  return new Proxy(cursor, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const result: unknown = value.apply(target, args);
        if (prop === "toArray" && result instanceof Promise) {
          return result.finally(() => record(name, performance.now() - started));
        }
        return result === target ? receiver : result;
      };
    },
  });
}

function timedCollection<T extends object>(collection: T, label: string, record: Recorder): T {
  return new Proxy(collection, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      const name = `${label}.${String(prop)}`;
      return (...args: unknown[]) => {
        const started = performance.now();
        const result: unknown = value.apply(target, args);
        if (result instanceof Promise) return result.finally(() => record(name, performance.now() - started));
        if (typeof result === "object" && result !== null && "toArray" in result) {
          return timedCursor(result, name, record);
        }
        return result;
      };
    },
  });
}

/** `storage` with every collection call timed into `times`. */
export function timedStorage(storage: PluginStorage, times: Map<string, CallTimes>): PluginStorage {
  const record: Recorder = (name, ms) => {
    const t = times.get(name) ?? { calls: 0, totalMs: 0, maxMs: 0 };
    t.calls += 1;
    t.totalMs += ms;
    t.maxMs = Math.max(t.maxMs, ms);
    times.set(name, t);
  };
  return {
    prefix: storage.prefix,
    collection: <T extends Document = Document>(name: string) =>
      timedCollection(storage.collection<T>(name), name, record),
    bucket: (name) => storage.bucket(name),
  };
}
