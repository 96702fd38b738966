import assert from "node:assert/strict";
import { test } from "@jest/globals";
import { REDACTED, missingSecrets, redactOptions, redactText, secretValues } from "./secrets.ts";

const options = {
  host: "smtp.example.com",
  auth: { user: "mailer", pass: "s3cret-pass" },
  inboundSecret: "hook-secret",
  accounts: [{ token: "tok-1" }, { token: "tok-2" }, { other: 1 }],
};
const names = ["auth.pass", "inboundSecret", "accounts.token", "missing.deep"];

test("secretValues follows dotted paths and arrays", () => {
  assert.deepEqual(secretValues(options, names).sort(), ["hook-secret", "s3cret-pass", "tok-1", "tok-2"]);
  assert.deepEqual(secretValues(options, undefined), []);
});

test("missingSecrets names the paths without a value", () => {
  assert.deepEqual(missingSecrets(options, names), ["missing.deep"]);
});

test("redactOptions replaces secrets in a copy", () => {
  const red = redactOptions(options, names);
  assert.equal(red.auth.pass, REDACTED);
  assert.equal(red.auth.user, "mailer");
  assert.equal(red.accounts[0]?.token, REDACTED);
  assert.equal(options.auth.pass, "s3cret-pass", "the original is untouched");
});

test("redactText removes every occurrence", () => {
  assert.equal(redactText("pass=s3cret-pass again s3cret-pass", ["s3cret-pass"]), `pass=${REDACTED} again ${REDACTED}`);
});
