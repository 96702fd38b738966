import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { isValidZone } from "../domain/calling-window.ts";
import { loadPhoneZoneTable, loadRegulationTable, RegulationDataError } from "./load.ts";

test("the shipped tables are valid and every zone is a real IANA zone", () => {
  const zones = loadPhoneZoneTable();
  const all = [
    ...Object.values(zones.nanp).flatMap((r) => [...r.zones, ...Object.values(r.areaCodeZones ?? {}).flat()]),
    ...Object.values(zones.countries).flat(),
  ];
  assert.deepEqual(
    all.filter((z) => !isValidZone(z)),
    [],
  );
  const codes = Object.values(zones.nanp).flatMap((r) => r.areaCodes);
  assert.equal(new Set(codes).size, codes.length, "an area code belongs to one region");
  assert.ok(loadRegulationTable().jurisdictions["US-FL"]);
});

test("a bad rule names the file, the JSON pointer and what was expected", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "dialmesh-regulation-"));
  const file = path.join(dir, "jurisdictions.json");
  writeFileSync(
    file,
    JSON.stringify({ jurisdictions: { US: { name: "US", callingWindows: [{ start: "8am", end: "21:00" }] } } }),
  );
  assert.throws(
    () => loadRegulationTable(file),
    (err: unknown) =>
      err instanceof RegulationDataError &&
      err.message.includes(file) &&
      err.details.some((d) => d.path === "/jurisdictions/US/callingWindows/0/start" && /pattern/.test(d.message)),
  );
});
