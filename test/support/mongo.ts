/** Test databases on the suite's FerretDB: one database per test file, dropped at the end. */
import { randomBytes } from "node:crypto";

export function testMongoUrl(): string {
  const base = process.env.DIALMESH_TEST_MONGO_URL;
  if (!base) throw new Error("DIALMESH_TEST_MONGO_URL is not set: run the suite with `npm test`");
  return base;
}

/** A fresh database URL for one test file. */
export function freshDatabaseUrl(label: string): string {
  return `${testMongoUrl()}/dm_${label.replace(/\W/g, "_")}_${randomBytes(4).toString("hex")}`;
}
