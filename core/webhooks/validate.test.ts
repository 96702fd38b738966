import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { isWebhookSubscriptionInput, validateWebhookSubscription, WebhookValidationError } from "./validate.ts";

test("a valid subscription has no details", () => {
  assert.deepEqual(
    validateWebhookSubscription({ url: "https://hooks.example.com/x", secret: "0123456789abcdef", events: ["*"] }),
    [],
  );
  assert.equal(
    isWebhookSubscriptionInput({ url: "http://h.example.com", events: ["activity.status", "activity.*"] }),
    true,
  );
});

test("problems are JSON pointers with plain messages, never echoing the secret", () => {
  const details = validateWebhookSubscription({
    url: "ftp://x",
    secret: "short-secret",
    events: ["Activity Status", "*"],
    colour: "blue",
  });
  const byPath = Object.fromEntries(details.map((d) => [d.path, d.message]));
  assert.match(byPath["/url"] ?? "", /^must be an absolute http or https URL/);
  assert.match(byPath["/secret"] ?? "", /fewer than 16 characters/);
  assert.match(byPath["/events/0"] ?? "", /must be an event name such as "activity.status"/);
  assert.equal(byPath["/colour"], "is not a known property");
  assert.doesNotMatch(JSON.stringify(details), /short-secret/);
});

test("missing fields and wrong types", () => {
  assert.deepEqual(validateWebhookSubscription({}), [
    { path: "/url", message: "is required" },
    { path: "/events", message: "is required" },
  ]);
  assert.deepEqual(
    validateWebhookSubscription({ url: "https://a.example.com", events: [] }).map((d) => d.path),
    ["/events"],
  );
  assert.deepEqual(
    validateWebhookSubscription("nope").map((d) => d.path),
    [""],
  );
  assert.deepEqual(
    validateWebhookSubscription({ url: "not a url", events: ["*"] }).map((d) => d.path),
    ["/url"],
  );
});

test("the error carries the API's 400 body", () => {
  const err = new WebhookValidationError([{ path: "/url", message: "is required" }]);
  assert.equal(err.name, "ValidationError");
  assert.deepEqual(JSON.parse(JSON.stringify(err)), {
    error: "ValidationError",
    message: "Invalid webhook subscription: /url is required",
    details: [{ path: "/url", message: "is required" }],
  });
});
