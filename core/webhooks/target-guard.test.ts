import { types } from "node:util";
import { test } from "@jest/globals";
import assert from "node:assert/strict";
import {
  checkResolvedTarget,
  checkTargetUrl,
  guardedLookup,
  nonPublicReason,
  WebhookTargetError,
  type LookupAll,
} from "./target-guard.ts";

const deny = { allowPrivateNetworks: false };
const allow = { allowPrivateNetworks: true };

test("non-public IPv4 ranges are recognised", () => {
  const cases: [string, RegExp][] = [
    ["127.0.0.1", /loopback/],
    ["127.255.0.9", /loopback/],
    ["10.1.2.3", /private/],
    ["172.16.0.1", /private/],
    ["172.31.255.255", /private/],
    ["192.168.1.1", /private/],
    ["169.254.169.254", /metadata/],
    ["169.254.1.1", /link-local/],
    ["100.64.0.1", /carrier-grade NAT/],
    ["100.127.255.255", /carrier-grade NAT/],
    ["100.100.100.200", /metadata/],
    ["0.0.0.0", /unspecified/],
    ["224.0.0.1", /multicast/],
    ["255.255.255.255", /reserved/],
  ];
  for (const [ip, reason] of cases) assert.match(nonPublicReason(ip) ?? "public", reason, ip);
  for (const ip of ["8.8.8.8", "93.184.216.34", "172.32.0.1", "100.128.0.1", "1.1.1.1"]) {
    assert.equal(nonPublicReason(ip), null, ip);
  }
});

test("non-public IPv6 ranges are recognised, including embedded IPv4", () => {
  const cases: [string, RegExp][] = [
    ["::", /unspecified/],
    ["::1", /loopback/],
    ["fe80::1", /link-local/],
    ["fe80::1%eth0", /link-local/],
    ["fc00::1", /unique-local/],
    ["fd12:3456::1", /unique-local/],
    ["fd00:ec2::254", /metadata/],
    ["ff02::1", /multicast/],
    ["::ffff:127.0.0.1", /loopback.*IPv4-mapped/],
    ["::ffff:7f00:1", /loopback.*IPv4-mapped/],
    ["::ffff:169.254.169.254", /metadata/],
    ["::10.0.0.1", /private.*IPv4-compatible/],
    ["64:ff9b::a00:1", /private.*NAT64/],
    ["2002:c0a8:0101::1", /private.*6to4/],
  ];
  for (const [ip, reason] of cases) assert.match(nonPublicReason(ip) ?? "public", reason, ip);
  for (const ip of ["2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8", "2002:0808:0808::1"]) {
    assert.equal(nonPublicReason(ip), null, ip);
  }
});

test("URL literals: scheme, credentials and internal hosts are refused with clear messages", () => {
  const refused: [string, string, RegExp][] = [
    ["ftp://example.com/x", "UNSUPPORTED_SCHEME", /scheme "ftp" is not supported: expected http or https/],
    ["https://user:pw@example.com/x", "CREDENTIALS_IN_URL", /must not contain credentials/],
    ["not a url", "INVALID_URL", /not a valid absolute URL/],
    [
      "http://127.0.0.1:8080/x",
      "BLOCKED_ADDRESS",
      /127\.0\.0\.1 is a loopback address; expected a public address \(set webhooks\.allowPrivateNetworks/,
    ],
    ["http://[::1]/x", "BLOCKED_ADDRESS", /loopback/],
    ["http://2130706433/x", "BLOCKED_ADDRESS", /loopback/], // decimal form of 127.0.0.1
    ["http://0x7f.1/x", "BLOCKED_ADDRESS", /loopback/],
    ["http://169.254.169.254/latest/meta-data", "BLOCKED_ADDRESS", /metadata/],
    ["http://[::ffff:10.0.0.1]/x", "BLOCKED_ADDRESS", /private/],
    ["http://localhost:3000/x", "BLOCKED_HOST", /loopback host name/],
    ["http://api.localhost./x", "BLOCKED_HOST", /loopback host name/],
    ["http://metadata.google.internal/x", "BLOCKED_HOST", /metadata/],
  ];
  for (const [url, code, message] of refused) {
    assert.throws(
      () => checkTargetUrl(url, deny),
      (err: unknown) => err instanceof WebhookTargetError && err.code === code && message.test(err.message),
      url,
    );
  }
  // With private networks allowed, only scheme and credentials are checked.
  assert.equal(checkTargetUrl("http://127.0.0.1:8080/x", allow).port, "8080");
  assert.throws(() => checkTargetUrl("https://u:p@127.0.0.1/", allow), /credentials/);
});

test("errors name the origin only, never the path, query or credentials", () => {
  try {
    checkTargetUrl("http://10.0.0.1/hook/TOKEN123?key=SECRET456", deny);
    assert.fail("expected a refusal");
  } catch (err) {
    assert.ok(err instanceof WebhookTargetError);
    assert.equal(err.target, "http://10.0.0.1");
    assert.doesNotMatch(err.message, /TOKEN123|SECRET456/);
  }
  try {
    checkTargetUrl("https://alice:hunter2@example.com/", deny);
  } catch (err) {
    assert.ok(types.isNativeError(err));
    assert.doesNotMatch(err.message, /alice|hunter2/);
  }
});

const fakeDns =
  (table: Record<string, string[]>): LookupAll =>
  async (host) => {
    const addrs = table[host];
    if (!addrs) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    return addrs.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };

test("resolved addresses are checked: any internal answer refuses the host", async () => {
  const lookup = fakeDns({
    "hooks.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "rebind.example.com": ["93.184.216.34", "10.0.0.7"],
    "v6.example.com": ["fd00::5"],
  });
  const ok = await checkResolvedTarget("https://hooks.example.com/x", deny, { lookup });
  assert.equal(ok.addresses.length, 2);
  await assert.rejects(
    checkResolvedTarget("https://rebind.example.com/x", deny, { lookup }),
    /host "rebind\.example\.com" resolves to 10\.0\.0\.7, a private address/,
  );
  await assert.rejects(checkResolvedTarget("https://v6.example.com/x", deny, { lookup }), /unique-local/);
  assert.equal((await checkResolvedTarget("https://rebind.example.com/x", allow, { lookup })).addresses.length, 2);
  // Unresolvable: accepted by default (deliveries retry), refused when asked.
  assert.deepEqual((await checkResolvedTarget("https://nx.example.com/x", deny, { lookup })).addresses, []);
  await assert.rejects(
    checkResolvedTarget("https://nx.example.com/x", deny, { lookup, allowUnresolved: false }),
    /could not be resolved \(ENOTFOUND\)/,
  );
});

test("the connection-time lookup refuses internal answers and returns only checked ones", async () => {
  const lookup = fakeDns({ "good.example.com": ["93.184.216.34", "2606:2800::1"], "evil.example.com": ["127.0.0.1"] });
  const call = (host: string, options: { all?: boolean; family?: number }) =>
    new Promise<{ err: Error | null; address: unknown; family?: number }>((resolve) =>
      guardedLookup(deny, "https://x", lookup)(host, options, (err, address, family) =>
        resolve({ err, address, ...(family !== undefined ? { family } : {}) }),
      ),
    );
  const all = await call("good.example.com", { all: true });
  assert.equal(all.err, null);
  assert.deepEqual(all.address, [
    { address: "93.184.216.34", family: 4 },
    { address: "2606:2800::1", family: 6 },
  ]);
  const v6 = await call("good.example.com", { family: 6 });
  assert.equal(v6.address, "2606:2800::1");
  assert.equal(v6.family, 6);
  const evil = await call("evil.example.com", { all: true });
  assert.ok(evil.err instanceof WebhookTargetError);
  assert.match(evil.err.message, /resolves to 127\.0\.0\.1, a loopback address/);
});
