/**
 * Keeps docs/openapi.yaml true:
 * - every route alias of the API gateway (core/services/api.service.ts) is documented with the same
 *   method and path, and nothing else is; which operations need no key and the least role of the
 *   others match the gateway's authentication and REQUIRED_ROLE;
 * - every `$ref` resolves, and the status enums are those of core/domain/status.ts;
 * - a real hub (FerretDB, the email-smtp plugin against a local SMTP server, a local webhook
 *   receiver) answers every documented operation with a documented status, and its bodies
 *   (202, 400, 401, 403, 404, 409, 413, the activity view, conversations, subscriptions, plugins,
 *   suppressions, health) and webhook notifications validate against the documented schemas.
 *
 * No YAML parser is installed: `parseYaml` below reads the block-style subset the document is
 * written in (and fails with the line number on anything else).
 */
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ValidateFunction } from "ajv/dist/2020.js";
import { apiService } from "../../core/services/api.service.ts";
import type { HubRuntime } from "../../core/services/runtime.ts";
import { loadConfig } from "../../core/config/load.ts";
import { ACTIVITY_STATUSES, ATTEMPT_STATUSES } from "@dialmesh/sdk";
import { createAjv } from "../../core/validation/json-schema.ts";
import { verifySignature } from "../../core/webhooks/signature.ts";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";
import { startReceiver, type Receiver } from "../webhooks/receiver.ts";
import { eventually, startTestHub, TEST_KEYS, type TestHub } from "../support/hub.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SPEC_FILE = path.join(ROOT, "docs/openapi.yaml");
/** Base URI of the document for ajv: `../schemas/x.json` then resolves to the `$id` of schemas/x.json. */
const BASE = "https://dialmesh.dev/docs/openapi.yaml";
const METHODS = ["get", "put", "post", "delete", "patch", "options", "head", "trace"] as const;

// ---------------------------------------------------------------------------------------------
// A YAML reader for the block-style subset of docs/openapi.yaml

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function parseYaml(source: string, file = "yaml"): Json {
  const lines = source.split(/\r?\n/);
  let i = 0;
  const fail = (message: string): never => {
    throw new Error(`${file}:${i + 1}: ${message}`);
  };
  const blank = (s: string) => /^\s*(#.*)?$/.test(s);
  const indentOf = (s: string) => s.length - s.trimStart().length;
  const skip = () => {
    while (i < lines.length && blank(lines[i]!)) i++;
  };
  const isItem = (s: string, n: number) => indentOf(s) === n && /^-( |$)/.test(s.slice(n));

  function scalar(text: string): Json {
    const t = text.trim();
    if (t.startsWith('"')) {
      try {
        return JSON.parse(t) as string;
      } catch {
        return fail(`unsupported double-quoted scalar ${t}`);
      }
    }
    if (t.startsWith("'")) {
      if (!/^'(?:[^']|'')*'$/.test(t)) fail(`unsupported single-quoted scalar ${t}`);
      return t.slice(1, -1).replace(/''/g, "'");
    }
    const plain = t.replace(/\s+#.*$/, "");
    if (plain === "[]") return [];
    if (plain === "{}") return {};
    if (/^[[{&*!|>%@`]/.test(plain)) fail(`unsupported scalar ${plain}`);
    if (plain === "null" || plain === "~") return null;
    if (plain === "true" || plain === "false") return plain === "true";
    if (/^-?(0|[1-9]\d*)(\.\d+)?$/.test(plain)) return Number(plain);
    return plain;
  }

  /** `|`, `|-`, `>`, `>-` after a key at indent `n`; `i` is on the line after the key. */
  function blockScalar(header: string, n: number): string {
    const m = /^([|>])([-+]?)$/.exec(header.trim());
    if (!m) return fail(`unsupported block scalar header ${header}`);
    const body: string[] = [];
    let indent = -1;
    while (i < lines.length) {
      const line = lines[i]!;
      if (line.trim() === "") {
        body.push("");
        i++;
        continue;
      }
      const ind = indentOf(line);
      if (ind <= n) break;
      if (indent < 0) indent = ind;
      if (ind < indent) fail("block scalar line indented less than its first line");
      body.push(line.slice(indent));
      i++;
    }
    while (body.length > 0 && body[body.length - 1] === "") body.pop();
    let text: string;
    if (m[1] === "|") text = body.join("\n");
    else
      text = body
        .map((l) => (l === "" ? "\n" : l))
        .join(" ")
        .replace(/ ?\n ?/g, "\n");
    return m[2] === "-" || body.length === 0 ? text : `${text}\n`;
  }

  function splitKey(text: string): { key: string; rest: string } | undefined {
    if (text.startsWith('"')) {
      const m = /^("(?:[^"\\]|\\.)*")\s*:(?:\s+(.*))?$/.exec(text);
      return m ? { key: JSON.parse(m[1]!) as string, rest: (m[2] ?? "").trim() } : undefined;
    }
    const m = /^([^\s#'"&*!|>%@`{[\]},-][^#]*?|-[^\s#][^#]*?)\s*:(?:\s+(.*))?$/.exec(text);
    if (!m || m[1]!.includes(": ")) return undefined;
    return { key: m[1]!, rest: (m[2] ?? "").trim() };
  }

  /** A value after `key:` (or `- `) on a line at indent `n`; `i` is already on the next line. */
  function inlineValue(rest: string, n: number): Json {
    if (/^[|>]/.test(rest)) return blockScalar(rest, n);
    const value = scalar(rest);
    skip();
    if (i < lines.length && indentOf(lines[i]!) > n) fail("multi-line plain scalars are not supported");
    return value;
  }

  function node(n: number): Json {
    skip();
    if (i >= lines.length) return null;
    return isItem(lines[i]!, indentOf(lines[i]!)) ? sequence(indentOf(lines[i]!)) : mapping(indentOf(lines[i]!), n);
  }

  function sequence(n: number): Json[] {
    const out: Json[] = [];
    for (;;) {
      skip();
      if (i >= lines.length || !isItem(lines[i]!, n)) break;
      const line = lines[i]!;
      const after = line.slice(n + 1);
      const content = after.trimStart();
      if (content === "") {
        i++;
        out.push(node(n + 1));
        continue;
      }
      const col = n + 1 + (after.length - content.length);
      if (/^-( |$)/.test(content) || splitKey(content)) {
        lines[i] = " ".repeat(col) + content;
        out.push(/^-( |$)/.test(content) ? sequence(col) : mapping(col, col));
      } else {
        i++;
        out.push(inlineValue(content, n));
      }
    }
    skip();
    if (i < lines.length && indentOf(lines[i]!) > n) fail("bad indentation after a sequence");
    return out;
  }

  function mapping(n: number, min: number): JsonObject {
    if (n < min) fail("bad indentation");
    const out: JsonObject = {};
    for (;;) {
      skip();
      if (i >= lines.length) break;
      const line = lines[i]!;
      const ind = indentOf(line);
      if (ind < n) break;
      if (ind > n) fail("bad indentation");
      if (isItem(line, n)) break;
      const kv = splitKey(line.slice(n)) ?? fail(`expected "key: value", got ${line.trim()}`);
      if (Object.hasOwn(out, kv.key)) fail(`duplicate key ${kv.key}`);
      i++;
      if (kv.rest !== "" && !kv.rest.startsWith("#")) {
        out[kv.key] = inlineValue(kv.rest, n);
        continue;
      }
      skip();
      if (i < lines.length && (indentOf(lines[i]!) > n || isItem(lines[i]!, n))) out[kv.key] = node(n + 1);
      else out[kv.key] = null;
    }
    return out;
  }

  const doc = node(0);
  skip();
  if (i < lines.length) fail("unexpected content");
  return doc;
}

// ---------------------------------------------------------------------------------------------
// The document

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function obj(v: Json | undefined, what: string): JsonObject {
  assert.ok(isObject(v), `${what} must be a mapping`);
  return v;
}

const escapePointer = (s: string) => s.replace(/~/g, "~0").replace(/\//g, "~1");

function atPointer(doc: Json, pointer: string): Json | undefined {
  if (pointer === "") return doc;
  let cur: Json | undefined = doc;
  for (const raw of pointer.slice(1).split("/")) {
    const part = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(cur)) cur = cur[Number(part)];
    else if (isObject(cur)) cur = Object.hasOwn(cur, part) ? cur[part] : undefined;
    else return undefined;
  }
  return cur;
}

const spec = obj(parseYaml(readFileSync(SPEC_FILE, "utf8"), "docs/openapi.yaml"), "the document");

interface Operation {
  method: string;
  path: string;
  /** JSON pointer of the operation in the document. */
  pointer: string;
  op: JsonObject;
}

function operationsOf(container: string): Operation[] {
  const out: Operation[] = [];
  for (const [p, item] of Object.entries(obj(spec[container], container))) {
    for (const method of METHODS) {
      const op = obj(item, `${container} ${p}`)[method];
      if (op !== undefined) {
        out.push({
          method: method.toUpperCase(),
          path: p,
          pointer: `/${container}/${escapePointer(p)}/${method}`,
          op: obj(op, `${p} ${method}`),
        });
      }
    }
  }
  return out;
}

const operations = operationsOf("paths");
const findOperation = (method: string, p: string): Operation => {
  const found = operations.find((o) => o.method === method && o.path === p);
  assert.ok(found, `docs/openapi.yaml documents no ${method} ${p}`);
  return found;
};

/** Follows a `$ref` to a Response Object; returns the pointer of the Response Object. */
function responsePointer(op: Operation, status: number): string | undefined {
  const responses = obj(op.op.responses, `${op.method} ${op.path} responses`);
  const key = [String(status), `${String(status)[0]}XX`, "default"].find((k) => Object.hasOwn(responses, k));
  if (!key) return undefined;
  let pointer = `${op.pointer}/responses/${key}`;
  for (let hops = 0; hops < 5; hops++) {
    const ref = obj(atPointer(spec, pointer), pointer).$ref;
    if (typeof ref !== "string") return pointer;
    assert.ok(ref.startsWith("#/"), `${pointer}: only local response $refs are supported`);
    pointer = ref.slice(1);
  }
  return fail(`${pointer}: $ref loop`);
}

function fail(message: string): never {
  throw new Error(message);
}

// ajv over the document itself and the schema files it references.
const ajv = createAjv();
const referencedFiles = new Set<string>();
(function collectRefs(v: Json, at: string): void {
  if (Array.isArray(v)) v.forEach((x, k) => collectRefs(x, `${at}/${k}`));
  else if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (k === "$ref" && typeof x === "string" && !x.startsWith("#")) referencedFiles.add(x.split("#")[0]!);
      collectRefs(x, `${at}/${escapePointer(k)}`);
    }
  }
})(spec, "");
for (const file of referencedFiles) {
  const abs = path.resolve(path.dirname(SPEC_FILE), file);
  if (existsSync(abs)) ajv.addSchema(JSON.parse(readFileSync(abs, "utf8")) as object);
}
ajv.addSchema(spec as object, BASE);
const validators = new Map<string, ValidateFunction>();
function validatorAt(pointer: string): ValidateFunction {
  let v = validators.get(pointer);
  if (!v) {
    v = ajv.compile({ $ref: `${BASE}#${pointer}` });
    validators.set(pointer, v);
  }
  return v;
}

function assertMatches(pointer: string, body: unknown, what: string): void {
  const validate = validatorAt(pointer);
  assert.ok(
    validate(body),
    `${what} does not match ${pointer}: ${JSON.stringify(validate.errors, null, 1)}\n${JSON.stringify(body)}`,
  );
}

interface Answer {
  status: number;
  body: unknown;
  text: string;
  headers: Headers;
}

/** The answer's status is documented for the operation, and a JSON body matches its schema. */
function assertDocumented(op: Operation, res: Answer): void {
  const what = `${op.method} ${op.path} answered ${res.status}`;
  const pointer = responsePointer(op, res.status);
  assert.ok(pointer, `${what}, which is not documented (${res.text.slice(0, 300)})`);
  const content = obj(atPointer(spec, pointer), pointer).content;
  if (content === undefined) return;
  const type = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
  const media = Object.keys(obj(content, `${pointer}/content`));
  assert.ok(
    media.includes(type) || media.includes("*/*"),
    `${what} with Content-Type ${type}; documented: ${media.join(", ")}`,
  );
  if (type === "application/json") assertMatches(`${pointer}/content/application~1json/schema`, res.body, what);
}

const schemaPointer = (name: string) => `/components/schemas/${name}`;

function schemaProperties(name: string): { properties: string[]; required: string[] } {
  const schema = obj(atPointer(spec, schemaPointer(name)), name);
  const required = schema.required;
  return {
    properties: Object.keys(obj(schema.properties, `${name}.properties`)),
    required: Array.isArray(required) ? required.map(String) : [],
  };
}

// ---------------------------------------------------------------------------------------------
// The routes the gateway really has

interface Route {
  method: string;
  /** OpenAPI form: `/api/v1/activities/{id}`. */
  path: string;
  action: string;
  authenticated: boolean;
}

function gatewayRoutes(): Route[] {
  const config = loadConfig({ env: {} });
  const schema = apiService({ config } as unknown as HubRuntime, []);
  const settings = schema.settings as {
    routes: { path: string; authentication?: boolean; aliases?: Record<string, unknown> }[];
  };
  const out: Route[] = [];
  for (const route of settings.routes) {
    for (const [alias, action] of Object.entries(route.aliases ?? {})) {
      const m = /^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+(.*)$/i.exec(alias);
      assert.ok(m, `alias "${alias}" has no method`);
      assert.equal(typeof action, "string", `alias "${alias}" maps to an action name`);
      const joined = `/${route.path}/${m[2]!}`.replace(/\/+/g, "/").replace(/\/$/, "");
      out.push({
        method: m[1]!.toUpperCase(),
        path: joined.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, "{$1}"),
        action: action as string,
        authenticated: route.authentication === true && action !== "api.health",
      });
    }
  }
  return out;
}

/** `REQUIRED_ROLE` of api.service.ts (not exported): action -> least role; others need admin. */
function requiredRoles(): Map<string, string> {
  const source = readFileSync(path.join(ROOT, "core/services/api.service.ts"), "utf8");
  const block = /const REQUIRED_ROLE[^=]*=\s*\{([\s\S]*?)\};/.exec(source);
  assert.ok(block, "REQUIRED_ROLE not found in core/services/api.service.ts");
  const roles = new Map<string, string>();
  for (const m of block[1]!.matchAll(/"([^"]+)"\s*:\s*"(admin|writer|reader)"/g)) roles.set(m[1]!, m[2]!);
  assert.ok(roles.size > 0, "REQUIRED_ROLE parsed empty");
  return roles;
}

const RANK: Record<string, number> = { reader: 1, writer: 2, admin: 3 };
const KEY_OF: Record<string, string> = { reader: TEST_KEYS.reader, writer: TEST_KEYS.writer, admin: TEST_KEYS.admin };

// ---------------------------------------------------------------------------------------------

describe("docs/openapi.yaml against the code", () => {
  test("is an OpenAPI 3.1 document whose $refs all resolve", () => {
    assert.match(String(spec.openapi), /^3\.1\.\d+$/);
    const problems: string[] = [];
    (function walk(v: Json, at: string): void {
      if (Array.isArray(v)) v.forEach((x, k) => walk(x, `${at}/${k}`));
      else if (isObject(v)) {
        for (const [k, x] of Object.entries(v)) {
          if (k === "$ref" && typeof x === "string") {
            const [file, fragment = ""] = x.split("#");
            if (file === "") {
              if (atPointer(spec, fragment) === undefined) problems.push(`${at}: ${x} points nowhere`);
            } else {
              const abs = path.resolve(path.dirname(SPEC_FILE), file!);
              if (!existsSync(abs)) problems.push(`${at}: ${x}: no file ${path.relative(ROOT, abs)}`);
              else if (atPointer(JSON.parse(readFileSync(abs, "utf8")) as Json, fragment) === undefined)
                problems.push(`${at}: ${x} points nowhere`);
            }
          }
          walk(x, `${at}/${escapePointer(k)}`);
        }
      }
    })(spec, "");
    assert.deepEqual(problems, []);
    // Every schema compiles (refs to the schema files included).
    for (const name of Object.keys(obj(obj(spec.components, "components").schemas, "schemas")))
      validatorAt(schemaPointer(name));
  });

  test("documents every route alias of api.service.ts with the same method and path, and nothing else", () => {
    const routes = gatewayRoutes();
    const inCode = new Set(routes.map((r) => `${r.method} ${r.path}`));
    const inDoc = new Set(operations.map((o) => `${o.method} ${o.path}`));
    assert.deepEqual(
      [...inCode].filter((r) => !inDoc.has(r)),
      [],
      "routes of api.service.ts missing from docs/openapi.yaml",
    );
    assert.deepEqual(
      [...inDoc].filter((r) => !inCode.has(r)),
      [],
      "operations in docs/openapi.yaml that api.service.ts does not route",
    );
    assert.equal(inCode.size, routes.length, "two aliases for one method and path");
    const ids = operations.map((o) => o.op.operationId);
    assert.equal(new Set(ids).size, ids.length, "operationIds are unique");
  });

  test("documents which operations need no key and the least role of the others", () => {
    const roles = requiredRoles();
    const globalSecurity = spec.security;
    assert.ok(Array.isArray(globalSecurity) && globalSecurity.length > 0, "a global bearer security requirement");
    for (const route of gatewayRoutes()) {
      const op = findOperation(route.method, route.path);
      const what = `${route.method} ${route.path} (${route.action})`;
      const security = op.op.security;
      const open = Array.isArray(security) && security.length === 0;
      assert.equal(open, !route.authenticated, `${what}: security: [] exactly when no key is needed`);
      const responses = Object.keys(obj(op.op.responses, `${what} responses`));
      if (!route.authenticated) {
        assert.equal(op.op["x-required-role"], undefined, `${what}: no x-required-role without a key`);
        continue;
      }
      const role = roles.get(route.action.replace(/^stream:/, "")) ?? "admin";
      assert.equal(op.op["x-required-role"], role, `${what}: x-required-role`);
      assert.match(
        String(op.op.description ?? ""),
        new RegExp(`Role \`${role}\``),
        `${what}: the description names the role`,
      );
      assert.ok(responses.includes("401"), `${what} documents 401`);
      assert.equal(
        responses.includes("403"),
        RANK[role]! > RANK.reader!,
        `${what} documents 403 exactly when a key may lack the role`,
      );
    }
  });

  test("every example matches its schema", () => {
    let checked = 0;
    (function walk(v: Json, at: string): void {
      if (Array.isArray(v)) v.forEach((x, k) => walk(x, `${at}/${k}`));
      else if (isObject(v)) {
        if (v.schema !== undefined && (v.example !== undefined || v.examples !== undefined)) {
          if (v.example !== undefined) {
            assertMatches(`${at}/schema`, v.example, `${at}/example`);
            checked++;
          }
          for (const [name, ex] of Object.entries(isObject(v.examples) ? v.examples : {})) {
            assertMatches(`${at}/schema`, obj(ex, `${at}/examples/${name}`).value, `${at}/examples/${name}`);
            checked++;
          }
        }
        for (const [k, x] of Object.entries(v)) walk(x, `${at}/${escapePointer(k)}`);
      }
    })(spec, "");
    assert.ok(checked > 5, `${checked} examples checked`);
  });

  test("documents under webhooks exactly the events the hub publishes", () => {
    const published = new Set<string>();
    (function scan(dir: string): void {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) scan(file);
        else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) {
          for (const line of readFileSync(file, "utf8").split("\n")) {
            if (!/^\s*name:/.test(line)) continue;
            for (const m of line.matchAll(/"([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)"/g)) published.add(m[1]!);
          }
        }
      }
    })(path.join(ROOT, "core"));
    assert.ok(published.has("activity.status"), "the scan finds the events");
    assert.deepEqual(Object.keys(obj(spec.webhooks, "webhooks")).sort(), [...published].sort());
  });

  test("status enums are those of core/domain/status.ts", () => {
    assert.deepEqual(obj(atPointer(spec, schemaPointer("ActivityStatus")), "ActivityStatus").enum, [
      ...ACTIVITY_STATUSES,
    ]);
    assert.deepEqual(obj(atPointer(spec, schemaPointer("AttemptStatus")), "AttemptStatus").enum, [...ATTEMPT_STATUSES]);
  });

  test("the YAML reader reads what it is given", () => {
    const doc = parseYaml(
      [
        "a: 1",
        'b: "x: y"',
        "c:",
        "  - p: q",
        "    r: [] # note",
        "  - - 2",
        "  - plain text",
        "d: |",
        "  line 1",
        "",
        "  line 2",
        "e:",
        "- true",
        "f: 'it''s'",
      ].join("\n"),
    );
    assert.deepEqual(doc, {
      a: 1,
      b: "x: y",
      c: [{ p: "q", r: [] }, [2], "plain text"],
      d: "line 1\n\nline 2\n",
      e: [true],
      f: "it's",
    });
    assert.throws(() => parseYaml("a: {x: 1}"), /unsupported scalar/);
    assert.throws(() => parseYaml("a: 1\na: 2"), /duplicate key/);
  });
});

describe("docs/openapi.yaml against a running hub", () => {
  let smtp: LocalSmtpServer;
  let receiver: Receiver;
  let failing: Receiver;
  let hub: TestHub;
  let secret = "";
  const email = {
    customer: { id: "oa-1", firstName: "Ada", email: "ada@example.com" },
    channel: "email",
    content: { subject: "Hi", text: "Hello {{firstName}}" },
  };
  const later = () => new Date(Date.now() + 3600_000).toISOString();

  async function call(
    method: string,
    url: string,
    opts: { key?: string | null; body?: unknown } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = {};
    const key = opts.key === undefined ? TEST_KEYS.admin : opts.key;
    if (key !== null) headers.Authorization = `Bearer ${key}`;
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(hub.apiUrl + url, {
      method,
      headers,
      ...(opts.body !== undefined
        ? { body: typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body) }
        : {}),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body, text, headers: res.headers };
  }

  /** Calls a documented operation and checks the answer against the document. */
  async function documented(
    method: string,
    docPath: string,
    url: string,
    opts: { key?: string | null; body?: unknown } = {},
  ): Promise<Answer> {
    const op = findOperation(method, docPath);
    const res = await call(method, url, opts);
    assertDocumented(op, res);
    // What the hub accepted, the documented request schema accepts too.
    if (res.status < 300 && typeof opts.body === "object" && op.op.requestBody !== undefined) {
      assertMatches(
        `${op.pointer}/requestBody/content/application~1json/schema`,
        opts.body,
        `the body of ${method} ${docPath}`,
      );
    }
    return res;
  }

  beforeAll(async () => {
    smtp = await startSmtpServer();
    receiver = await startReceiver();
    failing = await startReceiver(() => ({ status: 500, body: "not today" }));
    hub = await startTestHub({
      api: { maxBatch: 5 },
      plugins: [
        { id: "mail", use: "email-smtp", options: { host: "127.0.0.1", port: smtp.port, from: "noreply@example.com" } },
      ],
      fallbacks: { default: { steps: [{ channel: "email" }] } },
      webhooks: { maxAttempts: 1 },
    });
    const sub = await documented("POST", "/api/v1/webhooks", "/api/v1/webhooks", {
      body: { url: receiver.url, events: ["*"] },
    });
    assert.equal(sub.status, 201);
    secret = (sub.body as { secret: string }).secret;
  });
  afterAll(async () => {
    await hub?.stop();
    await receiver?.close();
    await failing?.close();
    await smtp?.stop();
  });

  test("every documented operation answers a documented status; no key is 401 and a key below the role 403", async () => {
    const roles = requiredRoles();
    const byPath = new Map(gatewayRoutes().map((r) => [`${r.method} ${r.path}`, r]));
    for (const op of operations) {
      const route = byPath.get(`${op.method} ${op.path}`);
      assert.ok(route, `${op.method} ${op.path} is routed`);
      const url = op.path.replace(/\{[^}]+\}/g, "openapi-test-x");
      const body = op.method === "POST" && op.op.requestBody !== undefined && route.authenticated ? {} : undefined;
      if (route.authenticated) {
        const none = await call(op.method, url, { key: null });
        assert.equal(none.status, 401, `${op.method} ${op.path} without a key`);
        assertDocumented(op, none);
        assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="dialmesh"');
        const role = roles.get(route.action.replace(/^stream:/, "")) ?? "admin";
        const lower = Object.keys(RANK).find((r) => RANK[r] === RANK[role]! - 1);
        if (lower) {
          const denied = await call(op.method, url, { key: KEY_OF[lower]!, ...(body ? { body } : {}) });
          assert.equal(denied.status, 403, `${op.method} ${op.path} with a ${lower} key`);
          assertDocumented(op, denied);
        }
        assertDocumented(op, await call(op.method, url, { key: KEY_OF[role]!, ...(body ? { body } : {}) }));
      } else {
        assertDocumented(op, await call(op.method, url, { key: null }));
      }
    }
  });

  test("POST /api/v1/activities: 202 with {id, status} for one, and one entry per item for a batch", async () => {
    const one = await documented("POST", "/api/v1/activities", "/api/v1/activities", {
      key: TEST_KEYS.writer,
      body: { ...email, dueAt: later() },
    });
    assert.equal(one.status, 202);
    assertMatches(schemaPointer("ScheduledActivity"), one.body, "one activity");
    assert.equal((one.body as { status: string }).status, "SCHEDULED");

    const items = [
      { ...email, dueAt: later(), idempotencyKey: "oa-b-1" },
      { ...email, dueAt: later(), idempotencyKey: "oa-b-2" },
      { ...email, dueAt: later(), idempotencyKey: "oa-b-1" },
      { ...email, dueAt: later(), content: { text: "other" }, idempotencyKey: "oa-b-2" },
    ];
    const batch = await documented("POST", "/api/v1/activities", "/api/v1/activities", { body: { activities: items } });
    assert.equal(batch.status, 202);
    assertMatches(schemaPointer("ScheduledBatch"), batch.body, "a batch");
    const out = batch.body as {
      accepted: number;
      created: number;
      activities: { id: string; duplicate?: true; conflict?: true }[];
    };
    assert.equal(out.accepted, 4);
    assert.equal(out.created, 2);
    assert.equal(out.activities[2]!.duplicate, true);
    assert.equal(out.activities[3]!.conflict, true);
  });

  test("400, 401, 409 and 413 bodies are the documented Error", async () => {
    const bad = await documented("POST", "/api/v1/activities", "/api/v1/activities", {
      body: { activities: [email, email, email, { ...email, customer: { id: "x", email: "not-an-email" } }] },
    });
    assert.equal(bad.status, 400);
    const err = bad.body as { error: string; details: { path: string }[] };
    assert.equal(err.error, "ValidationError");
    assert.deepEqual(
      err.details.map((d) => d.path),
      ["/activities/3/customer/email"],
    );

    const malformed = await documented("POST", "/api/v1/activities", "/api/v1/activities", { body: '{"customer": ' });
    assert.equal(malformed.status, 400);
    assert.equal((malformed.body as { error: string }).error, "ValidationError");

    for (const key of [null, "not-a-key-0123456789abcdef"]) {
      const denied = await documented("GET", "/api/v1/activities/{id}", "/api/v1/activities/act_x", { key });
      assert.equal(denied.status, 401);
      assert.equal((denied.body as { error: string }).error, "Unauthorized");
    }

    const first = { ...email, dueAt: later(), idempotencyKey: "oa-409" };
    assert.equal((await documented("POST", "/api/v1/activities", "/api/v1/activities", { body: first })).status, 202);
    const again = await documented("POST", "/api/v1/activities", "/api/v1/activities", { body: first });
    assert.equal(again.status, 202);
    assert.equal((again.body as { duplicate?: boolean }).duplicate, true);
    const conflict = await documented("POST", "/api/v1/activities", "/api/v1/activities", {
      body: { ...first, content: { text: "changed" } },
    });
    assert.equal(conflict.status, 409);
    assert.equal((conflict.body as { data: { id: string } }).data.id, (again.body as { id: string }).id);

    const tooMany = await documented("POST", "/api/v1/activities", "/api/v1/activities", {
      body: { activities: Array.from({ length: 6 }, () => email) },
    });
    assert.equal(tooMany.status, 413);
    assert.equal((tooMany.body as { details: { path: string }[] }).details[0]!.path, "/activities");
  });

  test("GET /api/v1/activities/{id}: every property of the documented Activity, and of its attempt, is there", async () => {
    const full = {
      ...email,
      dueAt: new Date().toISOString(),
      expiresAt: later(),
      window: {
        days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        start: "00:00",
        end: "24:00",
        timezone: "UTC",
      },
      fallbackPolicy: "default",
      campaignId: "oa-campaign",
      dncLists: ["oa-dnc"],
      purpose: "service",
      requiresConsent: true,
      idempotencyKey: "oa-full",
    };
    // The consent it requires, and the documented consent answers.
    const consent = await documented("POST", "/api/v1/customers/{id}/consents", "/api/v1/customers/oa-1/consents", {
      body: {
        channel: "email",
        purpose: "service",
        granted: true,
        source: "test",
        evidence: "https://example.com/f/1",
      },
    });
    assert.equal(consent.status, 201, consent.text);
    assert.equal(
      (await documented("GET", "/api/v1/customers/{id}/consents", "/api/v1/customers/oa-1/consents")).status,
      200,
    );
    // An objection (to marketing) leaves this service activity alone.
    const objection = await documented(
      "POST",
      "/api/v1/customers/{id}/objections",
      "/api/v1/customers/oa-1/objections",
      {
        body: { purpose: "marketing", source: "test" },
      },
    );
    assert.equal(objection.status, 201, objection.text);
    // The list it names, and its documented answers (an address not on it: the email is sent).
    const list = await documented("PUT", "/api/v1/dnc-lists/{id}", "/api/v1/dnc-lists/oa-dnc", {
      body: { name: "OpenAPI", source: "test" },
    });
    assert.equal(list.status, 201, list.text);
    const loaded = await documented("POST", "/api/v1/dnc-lists/{id}/entries", "/api/v1/dnc-lists/oa-dnc/entries", {
      body: { entries: ["+14155550199", "+1415777*", "someone-else@example.com"] },
    });
    assert.equal(loaded.status, 200, loaded.text);
    const scrub = await documented("POST", "/api/v1/dnc-lists/{id}/scrub", "/api/v1/dnc-lists/oa-dnc/scrub", {
      body: { where: { attr: "email", op: "contains", value: "@" } },
    });
    assert.equal(scrub.status, 200, scrub.text);
    assert.equal(
      ((await documented("GET", "/api/v1/dnc-lists/{id}", "/api/v1/dnc-lists/oa-dnc")).body as { entries: number })
        .entries,
      3,
    );
    const created = await documented("POST", "/api/v1/activities", "/api/v1/activities", { body: full });
    assert.equal(created.status, 202, created.text);
    const id = (created.body as { id: string }).id;
    await eventually(
      async () => ((await call("GET", `/api/v1/activities/${id}`)).body as { status: string }).status === "SENT",
      15_000,
      "the activity to be SENT",
    );
    const res = await documented("GET", "/api/v1/activities/{id}", `/api/v1/activities/${id}`, {
      key: TEST_KEYS.reader,
    });
    const sent = res.body as Record<string, unknown>;
    const { properties } = schemaProperties("Activity");
    assert.deepEqual(
      properties.filter((p) => !(p in sent)),
      [],
      "documented Activity properties missing from the answer",
    );
    const attempt = (sent.attempts as Record<string, unknown>[])[0]!;
    const att = schemaProperties("Attempt");
    assert.deepEqual(
      att.required.filter((p) => !(p in attempt)),
      [],
    );
    for (const p of ["pluginId", "vendorId", "reason", "node"]) assert.ok(p in attempt, `attempt.${p} of a SENT email`);
    assert.equal(attempt.pluginId, "mail");
    const late = await documented("DELETE", "/api/v1/activities/{id}", `/api/v1/activities/${id}`, {
      key: TEST_KEYS.writer,
    });
    assert.equal(late.status, 409);
    assert.equal((late.body as { data: { status: string } }).data.status, "SENT");
    await eventually(async () => smtp.messages.length > 0, 5_000, "the email");
  });

  test("DELETE /api/v1/activities/{id}: 200 with the cancelled Activity, 200 again, then 404 for an unknown id", async () => {
    const created = await documented("POST", "/api/v1/activities", "/api/v1/activities", {
      body: { ...email, dueAt: later() },
    });
    const id = (created.body as { id: string }).id;
    const cancelled = await documented("DELETE", "/api/v1/activities/{id}", `/api/v1/activities/${id}`, {
      key: TEST_KEYS.writer,
    });
    assert.equal(cancelled.status, 200);
    assert.equal((cancelled.body as { status: string }).status, "CANCELLED");
    assert.equal((await documented("DELETE", "/api/v1/activities/{id}", `/api/v1/activities/${id}`)).status, 200);
    assert.equal((await documented("DELETE", "/api/v1/activities/{id}", "/api/v1/activities/act_unknown")).status, 404);
  });

  test("conversations, subscriptions, dead letters, plugins, suppressions and health answer as documented", async () => {
    const list = await documented("GET", "/api/v1/conversations", "/api/v1/conversations?customerId=oa-1", {
      key: TEST_KEYS.reader,
    });
    assert.equal(list.status, 200);
    const conversations = (list.body as { conversations: { id: string }[] }).conversations;
    assert.ok(conversations.length > 0);
    let withTimeline = 0;
    for (const c of conversations) {
      const one = await documented(
        "GET",
        "/api/v1/conversations/{id}",
        `/api/v1/conversations/${encodeURIComponent(c.id)}`,
        { key: TEST_KEYS.reader },
      );
      assert.equal(one.status, 200);
      withTimeline += (one.body as { timeline: unknown[] }).timeline.length;
    }
    assert.ok(withTimeline > 0, "a timeline event was checked");

    const subs = await documented("GET", "/api/v1/webhooks", "/api/v1/webhooks");
    assert.equal(subs.status, 200);
    assert.match((subs.body as { subscriptions: { secret: string }[] }).subscriptions[0]!.secret, /^\*{4}/);
    const own = await documented("POST", "/api/v1/webhooks", "/api/v1/webhooks", {
      body: {
        url: receiver.url,
        events: ["customer.*"],
        secret: "a-secret-of-24-characters",
        active: false,
        description: "openapi test",
      },
    });
    assert.equal(own.status, 201);
    assert.equal((own.body as { secretGenerated: boolean }).secretGenerated, false);
    assert.match(own.headers.get("location") ?? "", /^\/api\/v1\/webhooks\/[0-9a-f]{24}$/);
    const ownId = (own.body as { id: string }).id;
    assert.equal((await documented("DELETE", "/api/v1/webhooks/{id}", `/api/v1/webhooks/${ownId}`)).status, 200);

    // A subscriber that always fails: with webhooks.maxAttempts 1 its deliveries die at once.
    const dying = await documented("POST", "/api/v1/webhooks", "/api/v1/webhooks", {
      body: { url: failing.url, events: ["activity.*"] },
    });
    const dyingId = (dying.body as { id: string }).id;
    await documented("POST", "/api/v1/activities", "/api/v1/activities", { body: email });
    const dead = await eventually(
      async () => {
        const res = await call("GET", `/api/v1/webhooks/dead-letters?subscriptionId=${dyingId}&limit=10`);
        return (res.body as { deadLetters?: unknown[] }).deadLetters?.length ? res : undefined;
      },
      15_000,
      "a dead letter",
    );
    assertDocumented(findOperation("GET", "/api/v1/webhooks/dead-letters"), dead);
    const letter = (dead.body as { deadLetters: { id: string; status: string; lastStatusCode: number | null }[] })
      .deadLetters[0]!;
    assert.equal(letter.status, "DEAD");
    assert.equal(letter.lastStatusCode, 500);
    const replayed = await documented(
      "POST",
      "/api/v1/webhooks/dead-letters/{id}/replay",
      `/api/v1/webhooks/dead-letters/${letter.id}/replay`,
    );
    assert.deepEqual(replayed.body, { replayed: 1 });
    assert.equal(
      (await documented("POST", "/api/v1/webhooks/dead-letters/replay", "/api/v1/webhooks/dead-letters/replay")).status,
      200,
    );
    assert.equal((await documented("DELETE", "/api/v1/webhooks/{id}", `/api/v1/webhooks/${dyingId}`)).status, 200);

    const plugins = await documented("GET", "/api/v1/plugins", "/api/v1/plugins", { key: TEST_KEYS.reader });
    assert.equal(plugins.status, 200);
    const reloaded = await documented("POST", "/api/v1/plugins/{id}/reload", "/api/v1/plugins/mail/reload");
    assert.equal(reloaded.status, 200);
    assert.equal((reloaded.body as { state: string }).state, "ready");
    assert.equal(
      (await documented("POST", "/api/v1/plugins", "/api/v1/plugins", { body: { id: "mail", use: "email-smtp" } }))
        .status,
      409,
    );
    assert.equal(
      (await documented("POST", "/api/v1/plugins", "/api/v1/plugins", { body: { id: "x", use: "no-such-plugin" } }))
        .status,
      400,
    );

    const added = await documented("POST", "/api/v1/suppressions", "/api/v1/suppressions", {
      body: { address: "+1 415 555 0100", reason: "openapi test" },
    });
    assert.equal(added.status, 201);
    assert.equal((added.body as { address: string }).address, "+14155550100");
    const check = await documented("GET", "/api/v1/suppressions/{address}", "/api/v1/suppressions/%2B14155550100", {
      key: TEST_KEYS.reader,
    });
    assert.equal((check.body as { suppressed: boolean }).suppressed, true);
    assert.equal((await documented("GET", "/api/v1/suppressions", "/api/v1/suppressions?limit=10")).status, 200);
    assert.equal(
      (await documented("DELETE", "/api/v1/suppressions/{address}", "/api/v1/suppressions/%2B14155550100")).status,
      200,
    );

    const health = await documented("GET", "/health", "/health", { key: null });
    assert.equal((health.body as { status: string }).status, "ok");
    const metrics = await documented("GET", "/metrics", "/metrics", { key: TEST_KEYS.reader });
    assert.match(metrics.text, /^dialmesh_activities\{/m);
  });

  test("webhook notifications are the documented payloads, with the documented headers and a valid signature", async () => {
    await eventually(
      async () => {
        const events = receiver.requests.map(
          (r) => JSON.parse(r.rawBody.toString("utf8")) as { data: { status?: string } },
        );
        return events.some((e) => e.data.status === "SENT") && events.some((e) => e.data.status === "CANCELLED");
      },
      15_000,
      "SENT and CANCELLED notifications",
    );
    const webhooks = obj(spec.webhooks, "webhooks");
    for (const req of receiver.requests) {
      const payload = JSON.parse(req.rawBody.toString("utf8")) as { event: string };
      const item = obj(webhooks[payload.event], `webhooks.${payload.event} (an event the hub sent)`);
      const pointer = `/webhooks/${escapePointer(payload.event)}/post`;
      const post = obj(item.post, pointer);
      assertMatches(
        `${pointer}/requestBody/content/application~1json/schema`,
        payload,
        `the ${payload.event} notification`,
      );
      const parameters = post.parameters;
      assert.ok(Array.isArray(parameters), `${pointer} documents its headers`);
      parameters.forEach((p, k) => {
        const ref = obj(p, "parameter").$ref;
        const paramPointer = typeof ref === "string" ? ref.slice(1) : `${pointer}/parameters/${k}`;
        const param = obj(atPointer(spec, paramPointer), paramPointer);
        if (param.in !== "header") return;
        const name = String(param.name).toLowerCase();
        const value = req.headers[name];
        if (param.required === true) assert.ok(value, `header ${String(param.name)} of ${payload.event}`);
        if (value !== undefined) {
          const typed = obj(param.schema, `${paramPointer}/schema`).type === "integer" ? Number(value) : value;
          assertMatches(`${paramPointer}/schema`, typed, `header ${String(param.name)}`);
        }
      });
      assert.equal(req.headers["x-dialmesh-event"], payload.event);
      assert.ok(
        verifySignature(secret, req.rawBody, req.headers["x-dialmesh-signature"]),
        "the signature verifies with the secret",
      );
    }
  });
});
