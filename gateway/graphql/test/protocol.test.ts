/**
 * Protocol-level bad input at the GraphQL gateway: what arrives before GraphQL itself (media type,
 * body, encoding), documents built to overflow the parser, and text no service can store, on every
 * argument of every root field. Each refusal is a GraphQL response with a code and a 4xx, made
 * before any service is called.
 */
import { createRequire } from "node:module";
import { startPlatform, type TestPlatform } from "@tessera/test/harness";
import type { GraphQLArgument, GraphQLField, GraphQLInputType } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DOCUMENT_LIMITS } from "../src/pre-parse.ts";
import { gatewaySchema } from "../src/schema/index.ts";
import { type RpcCounter, type RunningGateway, rpcCounter, startGateway } from "./support.ts";

// the gateway's one graphql instance (see src/graphql.ts)
const { getNamedType, isInputObjectType, isLeafType, isListType, isNonNullType, isScalarType } = createRequire(
  import.meta.url,
)("graphql") as typeof import("graphql");

let platform: TestPlatform;
let gw: RunningGateway;
let counter: RpcCounter;

beforeAll(async () => {
  platform = await startPlatform({ services: ["tenancy", "projects", "audit"] });
  counter = rpcCounter();
  // large enough that the 100,000-deep documents reach the scan rather than the size limit
  gw = await startGateway(platform, { GRAPHQL_MAX_BODY_BYTES: "4194304" }, [counter.interceptor]);
}, 180_000);

afterAll(async () => {
  await gw?.stop();
  await platform?.stop();
});

interface Raw {
  status: number;
  text: string;
  json: { data?: unknown; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> } | undefined;
}

async function post(body: string | Uint8Array, headers: Record<string, string>): Promise<Raw> {
  const res = await fetch(gw.url, {
    method: "POST",
    headers: { accept: "application/graphql-response+json, application/json", ...headers },
    body: typeof body === "string" ? body : Buffer.from(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json: Raw["json"];
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

const JSON_TYPE = { "content-type": "application/json" };

function expectRefusal(res: Raw, status: number, code: string): void {
  expect(res.status, res.text).toBe(status);
  expect(res.json, `a GraphQL-shaped body, got ${JSON.stringify(res.text.slice(0, 200))}`).toBeDefined();
  expect(res.json?.errors?.[0]?.extensions?.code, res.text).toBe(code);
  expect(res.json?.errors?.[0]?.message).toBeTruthy();
  // the HTTP status is the transport's business, not part of the error shown
  expect(res.json?.errors?.[0]?.extensions?.http).toBeUndefined();
}

describe("documents built to overflow the parser", () => {
  it("a 100,000-deep selection is refused promptly with DEPTH_LIMIT_EXCEEDED", async () => {
    const deep = `${"{a".repeat(100_000)}${"}".repeat(100_000)}`;
    const started = performance.now();
    const { result: res, calls } = await counter.during(() => post(JSON.stringify({ query: deep }), JSON_TYPE));
    expect(performance.now() - started).toBeLessThan(2_000);
    expectRefusal(res, 400, "DEPTH_LIMIT_EXCEEDED");
    expect(res.json?.errors?.[0]?.extensions?.limit).toBe(DOCUMENT_LIMITS.maxNesting);
    expect(calls).toEqual([]);
  });

  it("100,000-deep lists in arguments and in variables are refused the same way", async () => {
    const list = `query { projects(first: ${"[".repeat(100_000)}1${"]".repeat(100_000)}) { __typename } }`;
    expectRefusal(await post(JSON.stringify({ query: list }), JSON_TYPE), 400, "DEPTH_LIMIT_EXCEEDED");
    const vars = `{"query":"query($v: Int) { __typename }","variables":{"v":${"[".repeat(100_000)}${"]".repeat(100_000)}}}`;
    expectRefusal(await post(vars, JSON_TYPE), 400, "DEPTH_LIMIT_EXCEEDED");
  });

  it("too many tokens: TOKEN_LIMIT_EXCEEDED; a document under both limits still runs", async () => {
    const wide = `{ ${"__typename ".repeat(DOCUMENT_LIMITS.maxTokens + 1)}}`;
    expectRefusal(await post(JSON.stringify({ query: wide }), JSON_TYPE), 400, "TOKEN_LIMIT_EXCEEDED");
    // braces and brackets inside strings and comments do not count
    const fine = await post(
      JSON.stringify({
        query: `# {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\n{ __typename }`,
      }),
      JSON_TYPE,
    );
    expect(fine.status, fine.text).toBe(200);
    expect(fine.json?.data).toEqual({ __typename: "Query" });
  });

  it("a deep document over GET is refused before parsing too", async () => {
    const deep = `${"{a".repeat(2_000)}${"}".repeat(2_000)}`;
    const res = await fetch(`${gw.url}?query=${encodeURIComponent(deep)}`, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    expect(res.status, text).toBe(400);
    expect(JSON.parse(text).errors[0].extensions.code).toBe("DEPTH_LIMIT_EXCEEDED");
  });
});

describe("what arrives before GraphQL", () => {
  const query = JSON.stringify({ query: "{ __typename }" });
  const mediaTypes: Array<[string, string | Uint8Array, Record<string, string>]> = [
    ["text/plain", query, { "content-type": "text/plain" }],
    ["text/plain; charset=utf-8", query, { "content-type": "text/plain; charset=utf-8" }],
    [
      "multipart/form-data (no upload spec here)",
      '--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{"query":"{ __typename }"}\r\n--x--\r\n',
      { "content-type": "multipart/form-data; boundary=x" },
    ],
    ["form-encoded", "query=%7B__typename%7D", { "content-type": "application/x-www-form-urlencoded" }],
    ["application/json in another charset", query, { "content-type": "application/json; charset=iso-8859-1" }],
    ["application/xml", "<query/>", { "content-type": "application/xml" }],
    ["no content type", query, {}],
  ];
  for (const [name, body, headers] of mediaTypes) {
    it(`${name}: 415 UNSUPPORTED_MEDIA_TYPE`, async () => {
      const { result, calls } = await counter.during(() => post(body, headers));
      expectRefusal(result, 415, "UNSUPPORTED_MEDIA_TYPE");
      expect(calls).toEqual([]);
    });
  }

  const bodies: Array<[string, string | Uint8Array]> = [
    ["an empty body", ""],
    ["a body that is not JSON", "{ __typename }"],
    ["truncated JSON", '{"query": "{ __typename }"'],
    ["invalid UTF-8", new Uint8Array([0x7b, 0x22, 0x71, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d])],
    ["overlong UTF-8", new Uint8Array([0x7b, 0x22, 0x71, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d])],
    ["a JSON array (batching is off)", "[]"],
    ["a JSON string", '"{ __typename }"'],
    ["JSON null", "null"],
  ];
  for (const [name, body] of bodies) {
    it(`${name}: 400 BAD_REQUEST`, async () => {
      expectRefusal(await post(body, JSON_TYPE), 400, "BAD_REQUEST");
    });
  }

  it("application/json; charset=utf-8 works", async () => {
    const res = await post(query, { "content-type": "application/json; charset=utf-8" });
    expect(res.status, res.text).toBe(200);
  });
});

/** A value for an input type whose (first) String/ID leaf at `path` holds `bad`. */
interface TextSlot {
  path: string[];
  value: unknown;
}

function textSlots(type: GraphQLInputType, bad: string, depth = 0, seen = new Set<string>()): TextSlot[] {
  if (isNonNullType(type)) return textSlots(type.ofType, bad, depth, seen);
  if (isListType(type))
    return textSlots(type.ofType, bad, depth, seen).map((s) => ({ path: ["[0]", ...s.path], value: [s.value] }));
  if (isScalarType(type)) return type.name === "String" || type.name === "ID" ? [{ path: [], value: bad }] : [];
  if (isLeafType(type)) return [];
  if (!isInputObjectType(type) || depth > 4 || seen.has(type.name)) return [];
  const out: TextSlot[] = [];
  const next = new Set([...seen, type.name]);
  for (const field of Object.values(type.getFields())) {
    for (const slot of textSlots(field.type, bad, depth + 1, next)) {
      out.push({ path: [field.name, ...slot.path], value: { [field.name]: slot.value } });
    }
  }
  return out;
}

function operationFor(kind: "query" | "mutation", field: GraphQLField<unknown, unknown>, arg: GraphQLArgument): string {
  const selection = isLeafType(getNamedType(field.type)) ? "" : " { __typename }";
  return `${kind} ($v: ${String(arg.type)}) { ${field.name}(${arg.name}: $v)${selection} }`;
}

describe("text no service can store, in any argument of any root field", () => {
  const schema = gatewaySchema();
  const roots = [
    ["query", schema.getQueryType()],
    ["mutation", schema.getMutationType()],
  ] as const;
  const cases: Array<{ name: string; query: string; variables: Record<string, unknown>; path: string }> = [];
  for (const [kind, root] of roots) {
    for (const field of Object.values(root?.getFields() ?? {})) {
      for (const arg of field.args) {
        for (const slot of textSlots(arg.type, "a\u0000b")) {
          const path = ["variables", "v", ...slot.path].join(".").replaceAll(".[", "[");
          cases.push({
            name: `${kind} ${field.name}(${arg.name}) ${path}`,
            query: operationFor(kind, field, arg),
            variables: { v: slot.value },
            path,
          });
        }
      }
    }
  }

  it("found arguments to check", () => {
    // a loop over nothing proves nothing
    expect(cases.length).toBeGreaterThan(20);
  });

  it("NUL: 400 BAD_USER_INPUT naming the variable path, no service called", async () => {
    for (const c of cases) {
      const { result, calls } = await counter.during(() =>
        post(JSON.stringify({ query: c.query, variables: c.variables }), JSON_TYPE),
      );
      expectRefusal(result, 400, "BAD_USER_INPUT");
      expect(result.json?.errors?.[0]?.extensions?.path, c.name).toBe(c.path);
      expect(calls, c.name).toEqual([]);
    }
  });

  it("a lone surrogate: 400 BAD_USER_INPUT naming the variable path, no service called", async () => {
    for (const c of cases) {
      // JSON.stringify writes a lone surrogate as the escape a client would send (\ud800)
      const body = JSON.stringify({ query: c.query, variables: c.variables }).replaceAll("\\u0000", "\\ud800");
      const { result, calls } = await counter.during(() => post(body, JSON_TYPE));
      expectRefusal(result, 400, "BAD_USER_INPUT");
      expect(result.json?.errors?.[0]?.extensions?.path, c.name).toBe(c.path);
      expect(calls, c.name).toEqual([]);
    }
  });

  it("NUL or a lone surrogate written into the document itself is a parse error (400), not a call", async () => {
    for (const literal of ["\\u0000", "\\ud800"]) {
      const body = `{"query":"{ project(id: \\"a${literal}b\\") { __typename } }"}`;
      const { result, calls } = await counter.during(() => post(body, JSON_TYPE));
      expect(result.status, result.text).toBe(400);
      expect(["GRAPHQL_PARSE_FAILED", "BAD_USER_INPUT"]).toContain(result.json?.errors?.[0]?.extensions?.code);
      expect(calls).toEqual([]);
    }
  });
});
