/**
 * The dev mailbox: a local SMTP server that `npm start` runs when no config file is given,
 * so the default `email-smtp` plugin (127.0.0.1:2525) has somewhere to deliver and a first
 * activity can be seen arriving. Messages are saved as .eml files. Not for production.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface DevMailbox {
  port: number;
  dir: string;
  stop(): Promise<void>;
}

export async function startDevMailbox(opts: {
  port: number;
  dir: string;
  log: (line: string) => void;
}): Promise<DevMailbox> {
  const { SMTPServer } = await import("smtp-server");
  mkdirSync(opts.dir, { recursive: true });
  let n = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    hideDSN: false,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks);
        const file = path.join(opts.dir, `${Date.now()}-${++n}.eml`);
        writeFileSync(file, raw);
        const subject = /^Subject: (.*)$/im.exec(raw.toString("utf8"))?.[1] ?? "";
        const to = session.envelope.rcptTo.map((r) => r.address).join(", ");
        opts.log(`dev mailbox: message to ${to} "${subject}" saved in ${file}`);
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, "127.0.0.1", () => resolve());
  });
  return { port: opts.port, dir: opts.dir, stop: () => new Promise((r) => server.close(() => r())) };
}
