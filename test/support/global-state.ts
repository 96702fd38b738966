/**
 * What the jest global setup hands to the global teardown. Both run in jest's parent process
 * (not in a test worker), so a property on globalThis is how they share it.
 */
interface RunningDatabase {
  stop(): Promise<void>;
  dataDir: string;
}

const KEY = Symbol.for("dialmesh.test.database");
type Holder = { [KEY]?: RunningDatabase };

export function setRunningDatabase(db: RunningDatabase): void {
  (globalThis as Holder)[KEY] = db;
}

export function runningDatabase(): RunningDatabase | undefined {
  return (globalThis as Holder)[KEY];
}
