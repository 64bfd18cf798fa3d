import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { createServiceClient } from "@tessera/platform/rpc-client";
import { EventEnvelopeSchema } from "@tessera/proto/tessera/common/v1/event_pb";
import { ProjectService } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { type RunningService, runMain, startMain, stopMain } from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { as, newKey, type ProjectsEnv, projectsEnv, serviceVars } from "./support.ts";

const root = new URL("../", import.meta.url).pathname;
const protoRoot = new URL("../../../proto/", import.meta.url).pathname;

let env: ProjectsEnv;
let nc: NatsConnection;
let service: RunningService | undefined;

beforeAll(async () => {
  env = await projectsEnv("projects_proc", { migrate: false });
  nc = await connect({ servers: inject("natsUrl"), timeout: 5_000 });
});

afterAll(async () => {
  if (service) await stopMain(service);
  await nc?.close();
  await env?.close();
});

/** ProjectService as a team without this repository's generated code would call it: grpc-js + the .proto. */
function grpcJsProjects(address: string) {
  const definition = protoLoader.loadSync(["tessera/projects/v1/projects.proto"], {
    includeDirs: [protoRoot, join(protoRoot, ".buf-deps")],
    longs: String,
    enums: String,
    defaults: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    tessera: { projects: { v1: { ProjectService: grpc.ServiceClientConstructor } } };
  };
  const client = new loaded.tessera.projects.v1.ProjectService(address, grpc.credentials.createInsecure());
  type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: unknown, r: unknown) => void) => void;
  return {
    call<T>(method: string, req: unknown, token: string): Promise<T> {
      const md = new grpc.Metadata();
      md.set("authorization", `Bearer ${token}`);
      const fn = (client as unknown as Record<string, Unary>)[method];
      if (!fn) throw new Error(`no method ${method}`);
      return new Promise((resolve, reject) =>
        fn.call(client, req, md, { deadline: Date.now() + 10_000 }, (err, res) =>
          err ? reject(err) : resolve(res as T),
        ),
      );
    },
    close: () => client.close(),
  };
}

async function storedEventTypes(tenantId: string): Promise<string[]> {
  const consumer = await jetstream(nc).consumers.get("TESSERA_EVENTS", {
    filter_subjects: [`tessera.evt.${tenantId}.>`],
  });
  const types: string[] = [];
  const batch = await consumer.fetch({ max_messages: 20, expires: 1_000 });
  for await (const msg of batch) types.push(fromBinary(EventEnvelopeSchema, msg.data).type);
  return types;
}

describe("projects as a process", () => {
  it("migrates its database with its migrate main", async () => {
    const migrate = runMain(
      `${root}src/migrate.ts`,
      { MIGRATION_DATABASE_URL: env.db.ownerUrl, DATABASE_APP_ROLE: env.db.roles.app },
      "projects-migrate",
    );
    const { code } = await migrate.exited;
    expect(code, migrate.stderr() + migrate.stdout()).toBe(0);
    expect(migrate.lines().some((l) => l.msg === "migrations applied")).toBe(true);
  });

  it("refuses to start without its required settings, naming them", async () => {
    const { AUTH_JWKS_URL: _, ...vars } = serviceVars(env);
    const run = runMain(`${root}src/main.ts`, { ...vars, PORT: "not-a-port" }, "projects-badconfig");
    expect((await run.exited).code).toBe(1);
    expect(run.stderr()).toMatch(/AUTH_JWKS_URL/);
    expect(run.stderr()).toMatch(/PORT/);
  });

  it("serves a grpc-js client and publishes through its own relay", async () => {
    service = await startMain(`${root}src/main.ts`, serviceVars(env), { logName: "projects-process" });
    const tid = randomUUID();
    const token = await env.issuer.mint({ aud: "projects", sub: randomUUID(), kind: "user", tid, roles: ["member"] });
    const raw = grpcJsProjects(`127.0.0.1:${service.port}`);
    try {
      const key = newKey();
      const created = await raw.call<{ project: { id: string; key: string; version: string } }>(
        "CreateProject",
        { key, name: "From grpc-js" },
        token,
      );
      expect(created.project).toMatchObject({ key, version: "1" });
      const denied = await raw.call("ArchiveProject", { projectId: created.project.id }, token).catch((e) => e);
      expect((denied as grpc.ServiceError).code).toBe(grpc.status.PERMISSION_DENIED);

      const client = createServiceClient(ProjectService, { baseUrl: service.url });
      const got = await client.getProject({ projectId: created.project.id }, as(token));
      expect(got.project?.name).toBe("From grpc-js");
    } finally {
      raw.close();
    }
    let types: string[] = [];
    for (let i = 0; i < 20 && types.length === 0; i += 1) types = await storedEventTypes(tid);
    expect(types).toEqual(["project.created"]);
  });

  it("drains and exits 0 on SIGTERM, with tenant ids and no token in its logs", async () => {
    if (!service) throw new Error("no service running");
    const running = service;
    service = undefined;
    expect(await stopMain(running)).toBe(0);
    expect(running.stdout()).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
    expect(running.lines().some((l) => l.msg === "project created" && typeof l.tenant_id === "string")).toBe(true);
  });
});
