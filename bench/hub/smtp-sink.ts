/**
 * The benchmark's SMTP server, in its own process so that parsing what it receives does not
 * take CPU from the system under test's event loop. Both systems send to this one server.
 */
import { startSmtpServer } from "../../test/vendors/smtp-server.ts";
import { toParent, type DriverMessage } from "./common.ts";

const server = await startSmtpServer({ closeTimeoutMs: 100 });
toParent({ type: "ready", port: server.port });

process.on("message", (m: DriverMessage) => {
  if (m.type === "stats") {
    const msgs = server.messages;
    toParent({
      type: "stats",
      count: msgs.length,
      ...(msgs.length ? { first: msgs[0]!.receivedAt, last: msgs[msgs.length - 1]!.receivedAt } : {}),
    });
  } else if (m.type === "reset") {
    server.reset();
    toParent({ type: "stats", count: 0 });
  } else if (m.type === "stop") {
    void server.stop().then(() => process.exit(0));
  }
});
process.on("disconnect", () => process.exit(0));
