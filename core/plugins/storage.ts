/**
 * A plugin instance's storage scope: collections and GridFS buckets named `plugin_<id>_<name>`
 * in the hub's database. A plugin gets this rather than the database itself, so that it cannot
 * read or change the hub's collections (activities, claims, keys) or another plugin's state.
 */
import { GridFSBucket, type Db, type Document } from "mongodb";
import type { PluginStorage } from "@dialmesh/sdk";

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

function checked(name: string): string {
  if (!NAME.test(name))
    throw new Error(`plugin storage name "${name}" must be 1-64 letters, digits, "_" or "-" (no dots or "$")`);
  return name;
}

export function pluginStorage(db: Db, instanceId: string): PluginStorage {
  const prefix = `plugin_${instanceId.replace(/-/g, "_")}_`;
  return {
    prefix,
    collection: <T extends Document = Document>(name: string) => db.collection<T>(prefix + checked(name)),
    bucket: (name: string) => new GridFSBucket(db, { bucketName: prefix + checked(name) }),
  };
}
