import {
  create,
  createFileRegistry,
  type DescField,
  type DescMessage,
  type DescMethod,
  fromBinary,
  type Message,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createTokenVerifier } from "@tessera/platform/auth";
import { startTestIssuer, type TestIssuer } from "@tessera/platform/auth/testing";
import { createLogger } from "@tessera/platform/log";
import { REFLECTION_SERVICE_NAMES, type RpcServer, reflectionService } from "@tessera/platform/rpc-server";
import { createServiceServer } from "@tessera/platform/service";
import { BadRequestSchema } from "@tessera/proto/google/rpc/error_details_pb";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";
import { captureLogs } from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { echoHandlers } from "../../fixtures/echo-service/handlers.ts";
import { frame, type RawResponse, rawRequest } from "./support/raw-http2.ts";

const SERVICE = "echo-bad-input";
const TENANT = "5b7c1d2e-3f40-4a51-8b62-7c83d94ea5f6";
const PUBLIC = new Set(["grpc.health.v1.Health", ...REFLECTION_SERVICE_NAMES]);
const READ_MAX_BYTES = 4 * 1024 * 1024;

const logs = captureLogs("rpc-bad-input");
const logger = createLogger({ service: SERVICE, destination: logs.stream, level: "debug" });
let issuer: TestIssuer;
let server: RpcServer;
let baseUrl: string;
let token: string;
/** Every method the server serves, found through its own reflection service. */
let methods: DescMethod[] = [];

/** Lists the services with reflection and loads their descriptors from the answers. */
async function discover(url: string): Promise<DescMethod[]> {
  const client = createClient(reflectionService("v1"), createGrpcTransport({ baseUrl: url }));
  const method = reflectionService("v1").methods[0] as DescMethod;
  const ask = async (requests: object[]) => {
    const out: Array<Message & Record<string, unknown>> = [];
    const stream = (client as Record<string, (i: AsyncIterable<unknown>) => AsyncIterable<unknown>>)[
      method.localName
    ]?.(
      (async function* () {
        for (const r of requests) yield create(method.input, { messageRequest: r } as never);
      })(),
    );
    for await (const res of stream ?? []) out.push(res as Message & Record<string, unknown>);
    return out;
  };
  const [listing] = await ask([{ case: "listServices", value: "" }]);
  const listed = listing?.messageResponse as { value?: { service?: { name: string }[] } } | undefined;
  const names = (listed?.value?.service ?? []).map((s) => s.name);
  const answers = await ask(names.map((name) => ({ case: "fileContainingSymbol", value: name })));
  const files = new Map<string, Uint8Array>();
  for (const a of answers) {
    const response = a.messageResponse as { case: string; value: { fileDescriptorProto: Uint8Array[] } };
    expect(response.case).toBe("fileDescriptorResponse");
    for (const bytes of response.value.fileDescriptorProto) {
      files.set(fromBinary(FileDescriptorProtoSchema, bytes).name, bytes);
    }
  }
  // a FileDescriptorSet lists every file after its imports
  const protos = new Map([...files].map(([name, bytes]) => [name, fromBinary(FileDescriptorProtoSchema, bytes)]));
  const ordered: string[] = [];
  const visit = (name: string) => {
    if (ordered.includes(name)) return;
    for (const dep of protos.get(name)?.dependency ?? []) visit(dep);
    ordered.push(name);
  };
  for (const name of protos.keys()) visit(name);
  const registry = createFileRegistry(
    create(FileDescriptorSetSchema, { file: ordered.flatMap((name) => protos.get(name) ?? []) }),
  );
  return names.flatMap((name) => {
    const service = registry.getService(name);
    if (!service) throw new Error(`reflection lists ${name} but describes no such service`);
    return service.methods;
  });
}

beforeAll(async () => {
  issuer = await startTestIssuer();
  server = createServiceServer({
    service: SERVICE,
    register: (router) => router.service(EchoService, echoHandlers(logger)),
    verifier: createTokenVerifier({ jwksUrl: issuer.jwksUrl, issuer: issuer.issuer, audience: SERVICE }),
    logger,
  });
  baseUrl = (await server.listen()).url;
  token = await issuer.mint({ aud: SERVICE, tid: TENANT, sub: "user-1", kind: "user", roles: ["admin"] });
  methods = await discover(baseUrl);
});

afterAll(async () => {
  await server?.shutdown("test over");
  await issuer?.stop();
});

const path = (m: DescMethod) => `/${m.parent.typeName}/${m.name}`;
const grpcHeaders = (auth: boolean, extra: Record<string, string> = {}) => ({
  "content-type": "application/grpc",
  ...(auth ? { authorization: `Bearer ${token}` } : {}),
  ...extra,
});

/** The calls to make for one method: with a credential, and (for non-public services) without. */
function callers(m: DescMethod): Array<{ auth: boolean; expectWhenBad: (code: Code) => Code }> {
  if (PUBLIC.has(m.parent.typeName)) return [{ auth: false, expectWhenBad: (c) => c }];
  return [
    { auth: true, expectWhenBad: (c) => c },
    { auth: false, expectWhenBad: () => Code.Unauthenticated },
  ];
}

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/** Every string field of a message, with the init object that sets it (one level of nesting). */
function stringFields(desc: DescMessage, bad: string, depth = 0): Array<{ field: string; init: object }> {
  const out: Array<{ field: string; init: object }> = [];
  const put = (f: DescField, value: unknown) =>
    f.oneof ? { [f.oneof.localName]: { case: f.localName, value } } : { [f.localName]: value };
  for (const f of desc.fields) {
    if (f.fieldKind === "scalar" && f.scalar === ScalarType.STRING) out.push({ field: f.name, init: put(f, bad) });
    else if (f.fieldKind === "list" && f.listKind === "scalar" && f.scalar === ScalarType.STRING)
      out.push({ field: `${f.name}[0]`, init: put(f, [bad]) });
    else if (f.fieldKind === "message" && depth === 0 && !f.message.typeName.startsWith("google.protobuf.")) {
      for (const inner of stringFields(f.message, bad, depth + 1))
        out.push({ field: `${f.name}.${inner.field}`, init: put(f, inner.init) });
    }
  }
  return out;
}

function expectStatus(res: RawResponse, code: Code, what: string): void {
  expect(res.status, `${what}: HTTP status`).toBe(200);
  expect(res.grpcStatus, `${what}: ${res.grpcMessage}`).toBe(code);
}

describe("the kit's gRPC server refuses bad input in the caller's protocol, on every RPC", () => {
  it("finds the RPCs through its own reflection", () => {
    // a loop over nothing proves nothing
    expect(methods.length).toBeGreaterThanOrEqual(EchoService.methods.length + 3);
    expect(methods.map(path)).toContain("/tessera.testing.v1.EchoService/Echo");
  });

  const badBodies: Array<{
    name: string;
    body: () => Buffer;
    headers?: Record<string, string>;
    code: Code;
    text?: RegExp;
  }> = [
    {
      name: "malformed protobuf (length beyond the message)",
      body: () => frame(Buffer.from([0x0a, 0x05, 0x61])),
      code: Code.InvalidArgument,
      text: /malformed .* message/,
    },
    {
      name: "malformed protobuf (invalid wire type)",
      body: () => frame(Buffer.from([0x0f, 0x01])),
      code: Code.InvalidArgument,
      text: /malformed/,
    },
    {
      name: "truncated frame",
      body: () => frame(Buffer.from([0x0a, 0x01, 0x61])).subarray(0, 6),
      code: Code.InvalidArgument,
      text: /truncated/,
    },
    {
      name: "length prefix larger than the body",
      body: () => frame(Buffer.from([0x0a, 0x01, 0x61]), { length: 64 }),
      code: Code.InvalidArgument,
      text: /64 bytes promised, 3 received/,
    },
    {
      name: "incomplete message prefix",
      body: () => Buffer.from([0x00, 0x00, 0x00]),
      code: Code.InvalidArgument,
      text: /truncated/,
    },
    {
      name: "compressed flag without grpc-encoding",
      body: () => frame(Buffer.from([0x0a, 0x01, 0x61]), { flags: 1 }),
      code: Code.InvalidArgument,
      text: /no grpc-encoding/,
    },
    {
      name: "compressed flag with gzip that is not gzip",
      body: () => frame(Buffer.from([0x0a, 0x01, 0x61]), { flags: 1 }),
      headers: { "grpc-encoding": "gzip" },
      code: Code.InvalidArgument,
      text: /not valid gzip/,
    },
    {
      name: "unknown message flags",
      body: () => frame(Buffer.from([]), { flags: 0x80 }),
      code: Code.InvalidArgument,
      text: /flags 0x80/,
    },
    {
      name: "unsupported grpc-encoding",
      body: () => frame(Buffer.from([])),
      headers: { "grpc-encoding": "snappy" },
      code: Code.Unimplemented,
      text: /snappy/,
    },
    {
      name: "oversized message",
      body: () => frame(Buffer.alloc(16), { length: READ_MAX_BYTES + 1 }),
      code: Code.ResourceExhausted,
      text: new RegExp(`limit of ${READ_MAX_BYTES} bytes`),
    },
  ];

  for (const bad of badBodies) {
    it(`${bad.name}: ${Code[bad.code]} (UNAUTHENTICATED without a credential), never INTERNAL`, async () => {
      let checked = 0;
      for (const m of methods) {
        for (const caller of callers(m)) {
          const res = await rawRequest(baseUrl, path(m), bad.body(), grpcHeaders(caller.auth, bad.headers));
          const expected = caller.expectWhenBad(bad.code);
          expectStatus(res, expected, `${path(m)} auth=${caller.auth}`);
          if (expected === bad.code && bad.text) expect(res.grpcMessage).toMatch(bad.text);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(methods.length);
    });
  }

  it("invalid UTF-8 in any string field: INVALID_ARGUMENT", async () => {
    let checked = 0;
    for (const m of methods) {
      for (const f of m.input.fields) {
        if (f.fieldKind !== "scalar" || f.scalar !== ScalarType.STRING) continue;
        const body = frame(Buffer.from([...varint((f.number << 3) | 2), 2, 0xc3, 0x28]));
        for (const caller of callers(m)) {
          const res = await rawRequest(baseUrl, path(m), body, grpcHeaders(caller.auth));
          expectStatus(res, caller.expectWhenBad(Code.InvalidArgument), `${path(m)} ${f.name}`);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  for (const [name, bad, viaJson] of [
    ["NUL", "a\u0000b", false],
    ["NUL (JSON codec)", "a\u0000b", true],
    ["a lone surrogate (JSON codec)", "a\ud800b", true],
  ] as const) {
    it(`${name} in any string field of any request message: INVALID_ARGUMENT naming the field`, async () => {
      let checked = 0;
      for (const m of methods) {
        for (const { field, init } of stringFields(m.input, bad)) {
          const message = create(m.input, init as never);
          const payload = viaJson
            ? // JSON.stringify writes a lone surrogate as the escape \ud800, which is what a client sends
              Buffer.from(JSON.stringify(jsonOf(m.input, init)))
            : Buffer.from(toBinary(m.input, message));
          const headers = grpcHeaders(!PUBLIC.has(m.parent.typeName), {
            "content-type": viaJson ? "application/grpc+json" : "application/grpc",
          });
          const res = await rawRequest(baseUrl, path(m), frame(payload), headers);
          expectStatus(res, Code.InvalidArgument, `${path(m)} ${field}`);
          if (bad.includes("\u0000")) {
            expect(res.grpcMessage, `${path(m)} ${field}`).toMatch(/cannot be stored/);
            expect(decodeViolations(res.trailers), `${path(m)} ${field}`).toContain(field);
          } else {
            // protobuf-es's JSON parser already refuses a lone surrogate, naming the field
            expect(res.grpcMessage, `${path(m)} ${field}`).toMatch(/invalid UTF8|cannot be stored/);
          }
          checked++;
        }
      }
      expect(checked).toBeGreaterThanOrEqual(5);
    });
  }

  it("an unknown service or method: UNIMPLEMENTED with a grpc-status trailer (gRPC), header (gRPC-Web), 404 (Connect)", async () => {
    const ghost = await rawRequest(
      baseUrl,
      "/tessera.testing.v1.GhostService/Haunt",
      frame(Buffer.alloc(0)),
      grpcHeaders(true),
    );
    expectStatus(ghost, Code.Unimplemented, "unknown service");
    expect(ghost.trailers["grpc-status"]).toBe(String(Code.Unimplemented));
    expect(ghost.grpcMessage).toBe("unknown service tessera.testing.v1.GhostService");
    for (const m of methods) {
      const unknown = `/${m.parent.typeName}/${m.name}Nope`;
      const res = await rawRequest(baseUrl, unknown, frame(Buffer.alloc(0)), grpcHeaders(false));
      expectStatus(res, Code.Unimplemented, unknown);
      expect(res.grpcMessage).toBe(`unknown method ${m.name}Nope for service ${m.parent.typeName}`);
    }
    const web = await rawRequest(baseUrl, "/x.Y/Z", frame(Buffer.alloc(0)), {
      "content-type": "application/grpc-web+proto",
    });
    expect(web.status).toBe(200);
    expect(web.headers["grpc-status"]).toBe(String(Code.Unimplemented));
    const connect = await rawRequest(baseUrl, "/x.Y/Z", Buffer.from("{}"), { "content-type": "application/json" });
    expect(connect.status).toBe(404);
    expect(JSON.parse(connect.body.toString())).toEqual({ code: "unimplemented", message: "unknown service x.Y" });
  });

  it("a malformed message over gRPC-Web and Connect is INVALID_ARGUMENT too", async () => {
    const echo = "/tessera.testing.v1.EchoService/Echo";
    const auth = { authorization: `Bearer ${token}` };
    const web = await rawRequest(baseUrl, echo, frame(Buffer.from([0x0a, 0x05, 0x61])), {
      "content-type": "application/grpc-web+proto",
      ...auth,
    });
    expect(web.status).toBe(200);
    // gRPC-Web carries the status in a trailer frame at the end of the body
    expect(web.body.toString("latin1")).toMatch(/grpc-status: ?3\r\n/);
    const connect = await rawRequest(baseUrl, echo, Buffer.from([0x0a, 0x05, 0x61]), {
      "content-type": "application/proto",
      "connect-protocol-version": "1",
      ...auth,
    });
    expect(connect.status).toBe(400);
    expect(JSON.parse(connect.body.toString())).toMatchObject({ code: "invalid_argument" });
    const badJson = await rawRequest(
      baseUrl,
      echo,
      Buffer.from([0x7b, 0x22, 0x6d, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]),
      {
        "content-type": "application/json",
        "connect-protocol-version": "1",
        ...auth,
      },
    );
    expect(badJson.status).toBe(400);
    expect(JSON.parse(badJson.body.toString())).toMatchObject({ code: "invalid_argument" });
  });

  it("logged nothing as an unexpected error", () => {
    expect(logs.lines().filter((l) => Number(l.level) >= 50)).toEqual([]);
  });
});

/** The JSON a client would send for an init object (proto JSON names; oneofs flattened). */
function jsonOf(desc: DescMessage, init: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(init)) {
    const oneof = desc.oneofs.find((o) => o.localName === key);
    if (oneof) {
      const { case: c, value: v } = value as { case: string; value: unknown };
      const f = oneof.fields.find((x) => x.localName === c) as DescField;
      out[f.jsonName] = f.message && typeof v === "object" ? jsonOf(f.message, v as object) : v;
      continue;
    }
    const f = desc.fields.find((x) => x.localName === key) as DescField;
    out[f.jsonName] =
      f.fieldKind === "message" && typeof value === "object" && value !== null
        ? jsonOf(f.message, value as object)
        : value;
  }
  return out;
}

function decodeViolations(trailers: Record<string, unknown>): string[] {
  const headers = new Headers();
  for (const [k, v] of Object.entries(trailers)) if (!k.startsWith(":")) headers.set(k, String(v));
  const err = findTrailerError(headers);
  return (err?.findDetails(BadRequestSchema) ?? []).flatMap((d) => d.fieldViolations.map((v) => v.field));
}
