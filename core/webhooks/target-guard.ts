/**
 * Webhook target guard (SSRF protection).
 *
 * A subscriber URL is checked twice:
 * - when the subscription is created ({@link checkTargetUrl}, then {@link checkResolvedTarget}):
 *   http/https only, no credentials in the URL, and no literal or resolved address on a private,
 *   loopback, link-local, CGNAT, unique-local, unspecified, multicast/reserved or cloud-metadata
 *   network;
 * - at every delivery ({@link guardedLookup}): the hostname is resolved again (all addresses) and
 *   the connection is made to exactly the addresses that passed the check, so a DNS answer that
 *   changes after creation (DNS rebinding) cannot reach an internal address.
 *
 * `allowPrivateNetworks: true` (config `webhooks.allowPrivateNetworks`) lifts the address checks;
 * the scheme and credential checks always apply.
 *
 * Errors name the target by its origin only (scheme, host, port): paths and query strings of
 * webhook URLs often carry tokens.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import { isIP, type LookupFunction } from "node:net";

export interface TargetPolicy {
  /** Allow targets on private, loopback and other non-public networks (local development, on-prem). */
  allowPrivateNetworks: boolean;
}

export type TargetErrorCode =
  "INVALID_URL" | "UNSUPPORTED_SCHEME" | "CREDENTIALS_IN_URL" | "BLOCKED_HOST" | "BLOCKED_ADDRESS" | "DNS_FAILED";

export class WebhookTargetError extends Error {
  readonly code: TargetErrorCode;
  /** The target's origin (never the path, query or credentials). */
  readonly target: string;
  constructor(code: TargetErrorCode, target: string, message: string) {
    super(message);
    this.name = "WebhookTargetError";
    this.code = code;
    this.target = target;
  }
}

const ALLOW_HINT = "set webhooks.allowPrivateNetworks to true to allow it";

/** Origin of a URL for logs and errors: no credentials, path or query. */
export function describeTarget(url: URL | string): string {
  try {
    const u = typeof url === "string" ? new URL(url) : url;
    return `${u.protocol}//${u.host}`;
  } catch {
    return "<invalid URL>";
  }
}

// ---------------------------------------------------------------------------------------------
// Address classification (pure)

type V4Range = readonly [base: number, prefix: number, label: string];

const V4_RANGES: readonly V4Range[] = [
  [v4("169.254.169.254"), 32, "a cloud metadata address"],
  [v4("100.100.100.200"), 32, "a cloud metadata address"],
  [v4("0.0.0.0"), 8, "an unspecified ('this network') address"],
  [v4("10.0.0.0"), 8, "a private address (RFC 1918)"],
  [v4("100.64.0.0"), 10, "a carrier-grade NAT address (RFC 6598)"],
  [v4("127.0.0.0"), 8, "a loopback address"],
  [v4("169.254.0.0"), 16, "a link-local address"],
  [v4("172.16.0.0"), 12, "a private address (RFC 1918)"],
  [v4("192.0.0.0"), 24, "an IETF protocol-assignment address"],
  [v4("192.0.2.0"), 24, "a documentation address"],
  [v4("192.168.0.0"), 16, "a private address (RFC 1918)"],
  [v4("198.18.0.0"), 15, "a benchmarking address"],
  [v4("198.51.100.0"), 24, "a documentation address"],
  [v4("203.0.113.0"), 24, "a documentation address"],
  [v4("224.0.0.0"), 4, "a multicast address"],
  [v4("240.0.0.0"), 4, "a reserved address"],
];

function v4(text: string): number {
  const parts = text.split(".");
  if (parts.length !== 4) return NaN;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return NaN;
    const b = Number(p);
    if (b > 255) return NaN;
    n = n * 256 + b;
  }
  return n;
}

function classifyV4Number(n: number): string | null {
  for (const [base, prefix, label] of V4_RANGES) {
    const size = 2 ** (32 - prefix);
    if (n >= base && n < base + size) return label;
  }
  return null;
}

/** 16 bytes of an IPv6 address, or null when it does not parse. */
function v6Bytes(text: string): Uint8Array | null {
  let s = text.toLowerCase();
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  // A dotted IPv4 tail becomes two hex groups.
  const lastColon = s.lastIndexOf(":");
  if (s.includes(".", lastColon)) {
    const n = v4(s.slice(lastColon + 1));
    if (Number.isNaN(n)) return null;
    s = `${s.slice(0, lastColon + 1)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = groups[i] ?? "";
    if (!/^[0-9a-f]{1,4}$/.test(g)) return null;
    const v = parseInt(g, 16);
    bytes[i * 2] = v >> 8;
    bytes[i * 2 + 1] = v & 0xff;
  }
  return bytes;
}

function prefixMatches(bytes: Uint8Array, prefix: readonly number[], bits: number): boolean {
  for (let bit = 0; bit < bits; bit++) {
    const i = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if (((bytes[i] ?? 0) & mask) !== ((prefix[i] ?? 0) & mask)) return false;
  }
  return true;
}

function v4At(bytes: Uint8Array, offset: number): number {
  return (
    (bytes[offset] ?? 0) * 2 ** 24 +
    (bytes[offset + 1] ?? 0) * 2 ** 16 +
    (bytes[offset + 2] ?? 0) * 2 ** 8 +
    (bytes[offset + 3] ?? 0)
  );
}

function classifyV6Bytes(b: Uint8Array): string | null {
  const allZeroUpTo = (n: number) => b.subarray(0, n).every((x) => x === 0);
  if (allZeroUpTo(16)) return "an unspecified address";
  if (allZeroUpTo(15) && b[15] === 1) return "a loopback address";
  // Forms that embed an IPv4 address: judge the embedded address.
  const embedded = (offset: number, form: string): string | null => {
    const label = classifyV4Number(v4At(b, offset));
    return label ? `${label} (embedded in an ${form} IPv6 address)` : null;
  };
  if (allZeroUpTo(10) && b[10] === 0xff && b[11] === 0xff) return embedded(12, "IPv4-mapped");
  if (allZeroUpTo(12)) return embedded(12, "IPv4-compatible");
  if (prefixMatches(b, [0x00, 0x64, 0xff, 0x9b], 96)) return embedded(12, "NAT64");
  if (prefixMatches(b, [0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], 48)) return embedded(12, "NAT64");
  if (prefixMatches(b, [0x20, 0x02], 16)) return embedded(2, "6to4");
  if (prefixMatches(b, [0xfd, 0x00, 0x0e, 0xc2], 32)) return "a cloud metadata address";
  if (prefixMatches(b, [0xfc], 7)) return "a unique-local address (fc00::/7)";
  if (prefixMatches(b, [0xfe, 0x80], 10)) return "a link-local address";
  if (prefixMatches(b, [0xfe, 0xc0], 10)) return "a site-local address";
  if (prefixMatches(b, [0xff], 8)) return "a multicast address";
  if (prefixMatches(b, [0x01, 0x00], 64)) return "a discard-only address";
  if (prefixMatches(b, [0x20, 0x01, 0x0d, 0xb8], 32)) return "a documentation address";
  return null;
}

/**
 * Why an IP address is not a public unicast address (e.g. "a loopback address"), or null when
 * it is public. Anything that does not parse as an IP address is reported as not public.
 */
export function nonPublicReason(address: string): string | null {
  const family = isIP(address);
  if (family === 4) return classifyV4Number(v4(address));
  if (family === 6) {
    const bytes = v6Bytes(address);
    return bytes ? classifyV6Bytes(bytes) : "an address that could not be parsed";
  }
  return "not an IP address";
}

const BLOCKED_NAMES = new Set(["localhost", "metadata", "metadata.google.internal", "instance-data"]);

function blockedHostName(host: string): string | null {
  const h = host.toLowerCase().replace(/\.$/, "");
  if (BLOCKED_NAMES.has(h)) return h === "localhost" ? "the loopback host name" : "a cloud metadata host name";
  if (h.endsWith(".localhost")) return "a loopback host name (*.localhost)";
  if (h.endsWith(".internal")) return "a private-use host name (*.internal)";
  return null;
}

function bareHost(url: URL): string {
  return url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
}

// ---------------------------------------------------------------------------------------------
// Checks

/**
 * Parse and check a target URL without touching the network: scheme, credentials, and a host
 * that is an IP literal or a well-known internal name. Throws {@link WebhookTargetError}.
 */
export function checkTargetUrl(raw: string, policy: TargetPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WebhookTargetError(
      "INVALID_URL",
      "<invalid URL>",
      "Webhook URL is not a valid absolute URL: expected e.g. https://hooks.example.com/dialmesh",
    );
  }
  const target = describeTarget(url);
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new WebhookTargetError(
      "UNSUPPORTED_SCHEME",
      target,
      `Webhook URL scheme "${url.protocol.replace(/:$/, "")}" is not supported: expected http or https`,
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new WebhookTargetError(
      "CREDENTIALS_IN_URL",
      target,
      "Webhook URL must not contain credentials (user:password@): deliveries are authenticated by the X-Dialmesh-Signature header",
    );
  }
  if (!policy.allowPrivateNetworks) {
    const host = bareHost(url);
    if (isIP(host)) {
      const reason = nonPublicReason(host);
      if (reason) {
        throw new WebhookTargetError(
          "BLOCKED_ADDRESS",
          target,
          `Webhook target ${target} is refused: ${host} is ${reason}; expected a public address (${ALLOW_HINT})`,
        );
      }
    } else {
      const reason = blockedHostName(host);
      if (reason) {
        throw new WebhookTargetError(
          "BLOCKED_HOST",
          target,
          `Webhook target ${target} is refused: "${host}" is ${reason}; expected a public host (${ALLOW_HINT})`,
        );
      }
    }
  }
  return url;
}

/** Throws when any of the addresses a host resolved to is not public. */
export function assertPublicAddresses(
  target: string,
  host: string,
  addresses: readonly string[],
  policy: TargetPolicy,
): void {
  if (policy.allowPrivateNetworks) return;
  for (const address of addresses) {
    const reason = nonPublicReason(address);
    if (reason) {
      throw new WebhookTargetError(
        "BLOCKED_ADDRESS",
        target,
        `Webhook target ${target} is refused: host "${host}" resolves to ${address}, ${reason}; expected only public addresses (${ALLOW_HINT})`,
      );
    }
  }
}

/** The `dns.lookup` shape used here (injectable for tests). */
export type LookupAll = (hostname: string) => Promise<LookupAddress[]>;

export const systemLookupAll: LookupAll = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses)));
  });

export interface ResolveOptions {
  lookup?: LookupAll;
  /**
   * When true (the default), a host that does not resolve is accepted: deliveries retry and the
   * delivery-time check still applies. When false, it is an error (DNS_FAILED).
   */
  allowUnresolved?: boolean;
}

/**
 * Literal check plus a DNS check of every address the host resolves to. Returns the parsed URL
 * and the addresses (empty when the host did not resolve and that is allowed).
 */
export async function checkResolvedTarget(
  raw: string,
  policy: TargetPolicy,
  options: ResolveOptions = {},
): Promise<{ url: URL; addresses: string[] }> {
  const url = checkTargetUrl(raw, policy);
  const host = bareHost(url);
  if (isIP(host)) return { url, addresses: [host] };
  const target = describeTarget(url);
  let addresses: string[];
  try {
    addresses = (await (options.lookup ?? systemLookupAll)(host)).map((a) => a.address);
  } catch (err) {
    if (options.allowUnresolved ?? true) return { url, addresses: [] };
    const code = (err as NodeJS.ErrnoException).code ?? "lookup error";
    throw new WebhookTargetError(
      "DNS_FAILED",
      target,
      `Webhook target ${target}: host "${host}" could not be resolved (${code}); expected a resolvable host name`,
    );
  }
  assertPublicAddresses(target, host, addresses, policy);
  return { url, addresses };
}

/**
 * A `lookup` for `http.request` / `https.request` that resolves every address of the host,
 * refuses the connection when any of them is not public (unless allowed), and hands the
 * checked addresses to the socket: what was checked is what is connected to.
 */
export function guardedLookup(
  policy: TargetPolicy,
  target: string,
  lookup: LookupAll = systemLookupAll,
): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    lookup(hostname).then(
      (all) => {
        let addresses = all;
        try {
          assertPublicAddresses(
            target,
            hostname,
            all.map((a) => a.address),
            policy,
          );
        } catch (err) {
          callback(err as NodeJS.ErrnoException, "", 0);
          return;
        }
        if (options.family === 4 || options.family === 6) addresses = all.filter((a) => a.family === options.family);
        const first = addresses[0];
        if (!first) {
          const err: NodeJS.ErrnoException = new Error(`Webhook target ${target}: no usable address for "${hostname}"`);
          err.code = "ENOTFOUND";
          callback(err, "", 0);
          return;
        }
        if (options.all) callback(null, addresses);
        else callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, "", 0),
    );
  };
}
