/**
 * grpcurl, the real binary (built into .tools/bin by scripts/bootstrap), against the real service
 * processes: every service answers server reflection, so `list`, `describe` and calls work without
 * .proto files, and protocol-level refusals read the way the docs (docs/errors.md) say.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startPlatform, type TestPlatform } from "@tessera/test/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const grpcurlPath = new URL("../../.tools/bin/grpcurl", import.meta.url).pathname;
const run = promisify(execFile);

/** grpcurl's exit code, stdout and stderr (it exits non-zero on an error status). */
async function grpcurl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(grpcurlPath, ["-max-time", "10", ...args], { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

const address = (url: string) => url.replace(/^https?:\/\//, "");

let platform: TestPlatform;
let token: string;
let ghostDir: string;

beforeAll(async () => {
  if (!existsSync(grpcurlPath)) throw new Error(`${grpcurlPath} is missing: run scripts/bootstrap (it builds grpcurl)`);
  platform = await startPlatform({ services: ["tenancy", "projects", "audit"] });
  const tenant = await platform.seed.tenant();
  const owner = await tenant.user("owner");
  token = await owner.internalToken("projects");
  // a contract the servers do not serve: grpcurl then sends the call instead of refusing it itself
  ghostDir = mkdtempSync(join(tmpdir(), "grpcurl-ghost-"));
  writeFileSync(
    join(ghostDir, "ghost.proto"),
    [
      'syntax = "proto3";',
      "package tessera.projects.v1;",
      "message Empty {}",
      "service ProjectService { rpc Vanish(Empty) returns (Empty); }",
      "service GhostService { rpc Haunt(Empty) returns (Empty); }",
    ].join("\n"),
  );
}, 180_000);

afterAll(async () => {
  await platform?.stop();
});

describe("grpcurl against every service process, without .proto files", () => {
  it("lists each service's own services, health and reflection", async () => {
    const expected: Record<string, string[]> = {
      identity: ["tessera.identity.v1."],
      tenancy: ["tessera.tenancy.v1.TenantService"],
      projects: ["tessera.projects.v1.ProjectService", "tessera.projects.v1.TaskService"],
      audit: ["tessera.audit.v1.AuditService"],
    };
    const urls = { identity: platform.identity.url, ...mapUrls(platform.services) };
    expect(Object.keys(urls).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, url] of Object.entries(urls)) {
      const { code, stdout, stderr } = await grpcurl(["-plaintext", address(url), "list"]);
      expect(code, `${name}: ${stderr}`).toBe(0);
      const services = stdout.trim().split("\n");
      expect(services, name).toEqual(
        expect.arrayContaining([
          "grpc.health.v1.Health",
          "grpc.reflection.v1.ServerReflection",
          "grpc.reflection.v1alpha.ServerReflection",
        ]),
      );
      for (const prefix of expected[name] ?? []) {
        expect(
          services.some((s) => s.startsWith(prefix)),
          `${name} lists ${prefix}`,
        ).toBe(true);
      }
    }
  });

  it("describes a service and a message, validation rules included", async () => {
    const projects = address(platform.services.projects?.url ?? "");
    const service = await grpcurl(["-plaintext", projects, "describe", "tessera.projects.v1.ProjectService"]);
    expect(service.code, service.stderr).toBe(0);
    expect(service.stdout).toContain("tessera.projects.v1.ProjectService is a service:");
    expect(service.stdout).toMatch(/rpc ListProjects \( \.tessera\.projects\.v1\.ListProjectsRequest \)/);
    const message = await grpcurl(["-plaintext", projects, "describe", "tessera.projects.v1.UpdateProjectRequest"]);
    expect(message.code, message.stderr).toBe(0);
    expect(message.stdout).toMatch(/string project_id = 1 \[\s*\(\.buf\.validate\.field\)/);
  });

  it("calls an RPC with a token, and says UNAUTHENTICATED without one", async () => {
    const projects = address(platform.services.projects?.url ?? "");
    const ok = await grpcurl([
      "-plaintext",
      "-H",
      `authorization: Bearer ${token}`,
      "-d",
      '{"page":{"pageSize":5}}',
      projects,
      "tessera.projects.v1.ProjectService/ListProjects",
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout || "{}")).toBeTypeOf("object");
    const anonymous = await grpcurl([
      "-plaintext",
      "-d",
      "{}",
      projects,
      "tessera.projects.v1.ProjectService/ListProjects",
    ]);
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toContain("Code: Unauthenticated");
  });

  it("gets INVALID_ARGUMENT naming the field for text PostgreSQL cannot store", async () => {
    const projects = address(platform.services.projects?.url ?? "");
    const res = await grpcurl([
      "-plaintext",
      "-H",
      `authorization: Bearer ${token}`,
      "-d",
      '{"name":"nul\\u0000name"}',
      projects,
      "tessera.projects.v1.ProjectService/CreateProject",
    ]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("Code: InvalidArgument");
    expect(res.stderr).toContain("cannot be stored");
  });

  it("gets UNIMPLEMENTED with gRPC's wording for an unknown method or service", async () => {
    const projects = address(platform.services.projects?.url ?? "");
    const common = [
      "-plaintext",
      "-H",
      `authorization: Bearer ${token}`,
      "-import-path",
      ghostDir,
      "-proto",
      "ghost.proto",
    ];
    const method = await grpcurl([...common, "-d", "{}", projects, "tessera.projects.v1.ProjectService/Vanish"]);
    expect(method.code).not.toBe(0);
    expect(method.stderr).toContain("Code: Unimplemented");
    expect(method.stderr).toContain("Message: unknown method Vanish for service tessera.projects.v1.ProjectService");
    const service = await grpcurl([...common, "-d", "{}", projects, "tessera.projects.v1.GhostService/Haunt"]);
    expect(service.stderr).toContain("Code: Unimplemented");
    expect(service.stderr).toContain("Message: unknown service tessera.projects.v1.GhostService");
    // through reflection, grpcurl itself names what the server does not have
    const reflected = await grpcurl(["-plaintext", "-d", "{}", projects, "tessera.projects.v1.ProjectService/Vanish"]);
    expect(reflected.stderr).toContain('does not include a method named "Vanish"');
  });
});

function mapUrls(services: TestPlatform["services"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, service] of Object.entries(services)) if (service) out[name] = service.url;
  return out;
}
