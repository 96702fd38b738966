/**
 * The embedded database of `npm start`, supervised: if FerretDB dies it is started again on the
 * same port and files, after a backoff (0.5 s doubling to 10 s, reset after a minute up), and the
 * hub's connection finds it again by itself. It dies with the hub (see startFerretDb).
 */
import { startFerretDb, type RunningService } from "./processes.ts";

export interface SupervisedDatabase {
  url: string;
  stop(): Promise<void>;
}

export async function startSupervisedFerretDb(
  dataDir: string,
  log: (line: string) => void,
  synchronous?: "normal" | "full",
): Promise<SupervisedDatabase> {
  let current: RunningService = await startFerretDb({ dataDir, ...(synchronous ? { synchronous } : {}) });
  const port = current.port;
  let stopping = false;
  let delayMs = 500;
  let upSince = Date.now();

  const watch = (service: RunningService) => {
    service.process.once("exit", (code, signal) => {
      if (stopping) return;
      if (Date.now() - upSince > 60_000) delayMs = 500;
      log(`FerretDB exited (${signal ?? `code ${code}`}); starting it again in ${delayMs} ms`);
      const retry = () => {
        if (stopping) return;
        startFerretDb({ dataDir, port, ...(synchronous ? { synchronous } : {}) })
          .then((next) => {
            current = next;
            upSince = Date.now();
            log(`FerretDB is back on 127.0.0.1:${port}`);
            watch(next);
          })
          .catch((err: Error) => {
            delayMs = Math.min(delayMs * 2, 10_000);
            log(`FerretDB did not start (${err.message}); again in ${delayMs} ms`);
            setTimeout(retry, delayMs).unref();
          });
      };
      setTimeout(retry, delayMs).unref();
      delayMs = Math.min(delayMs * 2, 10_000);
    });
  };
  watch(current);

  return {
    url: current.url,
    async stop() {
      stopping = true;
      await current.stop();
    },
  };
}
