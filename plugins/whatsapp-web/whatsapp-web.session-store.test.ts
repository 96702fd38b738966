/**
 * The GridFS session store on the suite's FerretDB, alone and driven by whatsapp-web.js's own
 * RemoteAuth (its save/restore of a browser profile, without a browser). Needs `npm test`.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import mongoose from "mongoose";
import type { mongo } from "mongoose";
import type { Client } from "whatsapp-web.js";
import { freshDatabaseUrl } from "../../test/support/mongo.ts";
import { createTestContext } from "@dialmesh/sdk/contract-kit";
import type { PluginStorage } from "@dialmesh/sdk";
import { pluginStorage } from "../../core/plugins/storage.ts";
import { FakeWhatsAppVendor } from "./whatsapp-web.fake-client.ts";
import { createWhatsAppWebPlugin, type WhatsAppWebOptions } from "./whatsapp-web.provider.ts";
import { GridFsSessionStore } from "./whatsapp-web.session-store.ts";

async function eventually<T>(read: () => Promise<T>, timeoutMs = 3_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await read();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

const hasDb = Boolean(process.env.DIALMESH_TEST_MONGO_URL);

(hasDb ? describe : describe.skip)("whatsapp-web GridFS session store", () => {
  let client: mongo.MongoClient;
  let db: mongo.Db;
  let storage: PluginStorage;
  let dir: string;

  beforeAll(async () => {
    client = new mongoose.mongo.MongoClient(freshDatabaseUrl("wa_sessions"));
    await client.connect();
    db = client.db();
    storage = pluginStorage(db, "wa");
    dir = await mkdtemp(path.join(tmpdir(), "dialmesh-wa-store-"));
  });

  afterAll(async () => {
    await db?.dropDatabase().catch(() => undefined);
    await client?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("save, exists, extract and delete; saving again keeps only the newest version", async () => {
    const dataPath = path.join(dir, "plain");
    await mkdir(dataPath, { recursive: true });
    const store = new GridFsSessionStore(storage.bucket("sessions"), { dataPath });
    const session = "RemoteAuth-plain";

    assert.equal(await store.sessionExists({ session }), false);
    const v1 = Buffer.alloc(600_000, 1); // several 255 kB chunks
    await writeFile(path.join(dataPath, `${session}.zip`), v1);
    await store.save({ session });
    assert.equal(await store.sessionExists({ session }), true);

    const v2 = Buffer.concat([Buffer.from("v2"), Buffer.alloc(300_000, 2)]);
    await writeFile(path.join(dataPath, `${session}.zip`), v2);
    await store.save({ session });
    assert.equal(await db.collection("plugin_wa_sessions.files").countDocuments({}), 1);

    const target = path.join(dir, "restore", "out.zip");
    await store.extract({ session, path: target });
    assert.ok((await readFile(target)).equals(v2), "the newest version comes back byte for byte");

    await store.delete({ session });
    assert.equal(await store.sessionExists({ session }), false);
    assert.equal(await db.collection("plugin_wa_sessions.chunks").countDocuments({}), 0);
    await store.delete({ session }); // deleting nothing is fine
    await assert.rejects(store.extract({ session, path: target }), /no saved WhatsApp Web session/);
  });

  test("whatsapp-web.js's RemoteAuth saves a profile into it and restores it on another node", async () => {
    const { default: wweb } = await import("whatsapp-web.js");
    const profileFile = path.join("Default", "Local Storage", "leveldb", "000003.log");

    // Node A: a linked session; RemoteAuth zips the profile and calls store.save().
    const dataA = path.join(dir, "node-a");
    const authA = new wweb.RemoteAuth({
      clientId: "sales",
      dataPath: dataA,
      store: new GridFsSessionStore(storage.bucket("sessions"), { dataPath: dataA }),
      backupSyncIntervalMs: 60_000,
    });
    authA.setup({ options: { puppeteer: {} } } as unknown as Client);
    await authA.beforeBrowserInitialized(); // nothing saved yet: an empty profile dir
    const profileA = path.join(dataA, "RemoteAuth-sales");
    await mkdir(path.dirname(path.join(profileA, profileFile)), { recursive: true });
    await writeFile(path.join(profileA, profileFile), "wa-session-keys");
    await mkdir(path.join(profileA, "Default", "Cache"), { recursive: true });
    await writeFile(path.join(profileA, "Default", "Cache", "big"), "not needed to restore");
    const saver = authA as unknown as { storeRemoteSession(options?: { emit: boolean }): Promise<void> };
    await saver.storeRemoteSession();

    // Node B: same clientId, empty disk; RemoteAuth calls store.extract() and unzips.
    const dataB = path.join(dir, "node-b");
    const authB = new wweb.RemoteAuth({
      clientId: "sales",
      dataPath: dataB,
      store: new GridFsSessionStore(storage.bucket("sessions"), { dataPath: dataB }),
      backupSyncIntervalMs: 60_000,
    });
    const clientB = { options: { puppeteer: {} as Record<string, unknown> } };
    authB.setup(clientB as unknown as Client);
    await authB.beforeBrowserInitialized();
    const profileB = path.join(dataB, "RemoteAuth-sales");
    assert.equal(clientB.options.puppeteer.userDataDir, profileB);
    // RemoteAuth resolves on unzipper's "finish", which can come before the last file is
    // flushed (a race in the library, harmless there: Chromium starts much later): poll.
    assert.equal(await eventually(() => readFile(path.join(profileB, profileFile), "utf8")), "wa-session-keys");
    await assert.rejects(readFile(path.join(profileB, "Default", "Cache", "big")), { code: "ENOENT" });

    // Logging out removes the saved session.
    await authB.disconnect();
    assert.equal(
      await new GridFsSessionStore(storage.bucket("sessions"), { dataPath: dataB }).sessionExists({
        session: "RemoteAuth-sales",
      }),
      false,
    );
  });

  test("auth remote: the plugin keeps the session in its storage scope (ctx.storage) or at mongoUrl", async () => {
    for (const source of ["context", "mongoUrl"] as const) {
      const vendor = new FakeWhatsAppVendor();
      const tc = createTestContext<WhatsAppWebOptions>(
        source === "mongoUrl" ? { auth: "remote", mongoUrl: freshDatabaseUrl("wa_url") } : { auth: "remote" },
        source === "context" ? { storage } : {},
      );
      const plugin = createWhatsAppWebPlugin(tc.context, { createClient: vendor.factory });
      try {
        await plugin.start();
        const auth = vendor.configs[0]?.auth;
        assert.ok(auth?.kind === "remote", source);
        assert.ok(auth.store instanceof GridFsSessionStore, source);
        assert.equal(auth.dataPath, path.join(tc.context.dataDir, "wwebjs-remote"));
        assert.equal(await auth.store.sessionExists({ session: "RemoteAuth-contract" }), false);
        assert.equal((await plugin.health()).ok, true);
      } finally {
        await plugin.stop();
        tc.cleanup();
      }
    }
  });
});
