import assert from "node:assert/strict";
import { describe, it } from "@jest/globals";
import { classifyKeyword, compileKeywords, normalizeKeyword, type OptOutKeywords } from "./opt-out.ts";

describe("classifyKeyword", () => {
  it("recognises the default opt-out keywords, whole message, any case, trimmed", () => {
    for (const word of [
      "STOP",
      "stop",
      " Stop ",
      "STOPALL",
      "unsubscribe",
      "Cancel",
      "END",
      "quit\n",
      "OptOut",
      "revoke",
    ]) {
      assert.equal(classifyKeyword(word), "opt-out", word);
    }
  });

  it("recognises the default opt-in keywords", () => {
    for (const word of ["START", "start", " Unstop "]) assert.equal(classifyKeyword(word), "opt-in", word);
  });

  it("ignores surrounding punctuation but not other words", () => {
    assert.equal(classifyKeyword("Stop."), "opt-out");
    assert.equal(classifyKeyword("STOP!!"), "opt-out");
    assert.equal(classifyKeyword("please stop"), undefined);
    assert.equal(classifyKeyword("stop it"), undefined);
    assert.equal(classifyKeyword("STOPPING"), undefined);
    assert.equal(classifyKeyword("I'll be there at the end"), undefined);
  });

  it("returns undefined for empty or ordinary text", () => {
    assert.equal(classifyKeyword(""), undefined);
    assert.equal(classifyKeyword("   "), undefined);
    assert.equal(classifyKeyword("..."), undefined);
    assert.equal(classifyKeyword("Yes, see you Tuesday"), undefined);
    assert.equal(classifyKeyword("YES"), undefined);
  });

  it("adds per-language keywords", () => {
    const extra: OptOutKeywords = { es: { optOut: ["BAJA", "ALTO"], optIn: ["ALTA"] }, fr: { optOut: ["ARRÊT"] } };
    assert.equal(classifyKeyword("baja", extra), "opt-out");
    assert.equal(classifyKeyword("¡Baja!", extra), "opt-out");
    assert.equal(classifyKeyword("alto", extra), "opt-out");
    assert.equal(classifyKeyword("Alta", extra), "opt-in");
    assert.equal(classifyKeyword("arrêt", extra), "opt-out");
    // defaults still apply alongside
    assert.equal(classifyKeyword("STOP", extra), "opt-out");
    assert.equal(classifyKeyword("baja"), undefined);
  });

  it("supports multi-word keywords with collapsed inner whitespace", () => {
    const extra: OptOutKeywords = { en: { optOut: ["stop all"] } };
    assert.equal(classifyKeyword("STOP   ALL", extra), "opt-out");
  });

  it("treats a keyword configured as both opt-out and opt-in as opt-out", () => {
    assert.equal(classifyKeyword("start", { xx: { optOut: ["START"] } }), "opt-out");
  });

  it("accepts pre-compiled keyword sets", () => {
    const compiled = compileKeywords({ de: { optOut: ["ABMELDEN"], optIn: ["ANMELDEN"] } });
    assert.equal(classifyKeyword("abmelden", compiled), "opt-out");
    assert.equal(classifyKeyword("Anmelden", compiled), "opt-in");
    assert.equal(classifyKeyword("stop", compiled), "opt-out");
  });

  it("normalises full-width characters", () => {
    assert.equal(normalizeKeyword("ＳＴＯＰ"), "STOP");
    assert.equal(classifyKeyword("ＳＴＯＰ"), "opt-out");
  });
});
