import { execFile } from "node:child_process";
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  type OperationSchema,
  OperationState,
  type TenantSchema,
  TenantService,
  TenantStatus,
  Tier,
} from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The move, delete and export flows of `./tessera tenants` against a scripted TenantService (the
 * real one is exercised by tenancy's own tests): following an operation phase by phase to its end,
 * the exit codes of success and rollback, streaming an export and verifying it.
 */

const cli = new URL("../cli.ts", import.meta.url).pathname;
const TOKEN = "test-token-for-the-fake-tenancy";
const TENANT_ID = "0b7e4c1a-3f52-4d6e-9a10-2c3d4e5f6a7b";

type OperationInit = MessageInitShape<typeof OperationSchema>;
type TenantInit = MessageInitShape<typeof TenantSchema>;

const tenant = (
  over: { tier?: Tier; status?: TenantStatus; placement?: { database: string; namespace: string } } = {},
): TenantInit => ({
  id: TENANT_ID,
  slug: "acme",
  displayName: "Acme",
  tier: Tier.POOL,
  plan: "team",
  status: TenantStatus.ACTIVE,
  region: "local",
  placement: { database: "pool", namespace: "pool" },
  ...over,
});

const at = (msAgo: number) => timestampFromDate(new Date(Date.now() - msAgo));

/** A fake tenancy whose operation advances one scripted step per GetProvisioning call. */
class Fake {
  current: TenantInit = tenant();
  script: OperationInit[] = [];
  polls = 0;
  afterEnd: TenantInit | "gone" = tenant();
  export?: { files: Record<string, Buffer>; manifest: string; signature: string; tamper?: string };
  unauthenticated = 0;

  routes = (router: ConnectRouter) => {
    const fake = this;
    const impl: Partial<ServiceImpl<typeof TenantService>> = {
      resolveTenant: (req, ctx) => {
        this.checkAuth(ctx.requestHeader);
        const ended = this.polls >= this.script.length && this.script.length > 0;
        const t = ended ? this.afterEnd : this.current;
        if (t === "gone" || (req.key.case === "slug" && req.key.value !== "acme"))
          throw new ConnectError("tenant not found", Code.NotFound);
        return { tenant: t, cacheTtlSeconds: 30 };
      },
      getProvisioning: (_req, ctx) => {
        this.checkAuth(ctx.requestHeader);
        const op = this.script[Math.min(this.polls, this.script.length - 1)];
        this.polls++;
        return { tenantId: TENANT_ID, complete: true, steps: [], ...(op && { operation: op }) };
      },
      moveTenant: (req, ctx) => {
        this.checkAuth(ctx.requestHeader);
        expect(req.targetTier).toBe(Tier.BRIDGE);
        expect(req.databaseServer).toBe("eu-1");
        expect(req.requestId).toMatch(/^[0-9a-f-]{36}$/);
        return { tenant: this.current, operation: this.script[0] as OperationInit };
      },
      deleteTenant: (_req, ctx) => {
        this.checkAuth(ctx.requestHeader);
        return { tenant: this.current, operation: this.script[0] as OperationInit };
      },
      exportTenant: (_req, ctx) => {
        this.checkAuth(ctx.requestHeader);
        const e = this.export as NonNullable<Fake["export"]>;
        const files = Object.entries(e.files).map(([name, data]) => ({
          name,
          sha256: createHash("sha256").update(data).digest("hex"),
          bytes: BigInt(data.length),
          rows: BigInt(data.toString().split("\n").filter(Boolean).length),
        }));
        return {
          exportId: "5f0c8d3e-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
          files,
          manifest: e.manifest,
          signature: e.signature,
          keyId: "export-2026",
        };
      },
      async *readExport(_req, ctx) {
        fake.checkAuth(ctx.requestHeader);
        const e = fake.export as NonNullable<Fake["export"]>;
        for (const [name, data] of Object.entries(e.files)) {
          const sent = name === e.tamper ? Buffer.from(`${data.toString()}{"forged":true}\n`) : data;
          // two chunks per file, as a real stream would split it
          yield { file: name, data: sent.subarray(0, 5) };
          yield { file: name, data: sent.subarray(5) };
        }
        yield { file: "manifest.json", data: Buffer.from(e.manifest) };
        yield { file: "manifest.sig", data: Buffer.from(e.signature) };
      },
    };
    router.service(TenantService, impl);
  };

  checkAuth(headers: Headers) {
    if (headers.get("authorization") !== `Bearer ${TOKEN}`) {
      this.unauthenticated++;
      throw new ConnectError("missing or invalid credentials", Code.Unauthenticated);
    }
  }
}

function run(args: string[], url: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(VITEST|TESSERA_)/.test(k)) env[k] = v;
  Object.assign(env, { TESSERA_TENANCY_URL: url, TESSERA_TOKEN: TOKEN, TESSERA_HOME: tmpdir() });
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, "tenants", ...args], { env, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

const moveScript = (end: "succeeded" | "rolled_back"): OperationInit[] => {
  const base = { id: "op-1", kind: "move", fromTier: Tier.POOL, toTier: Tier.BRIDGE, createTime: at(5_000) };
  const tables = (done: number) => [
    { table: "projects.projects", rowsDone: BigInt(Math.min(done, 40)), rowsTotal: 40n },
    { table: "projects.tasks", rowsDone: BigInt(Math.max(0, done - 40)), rowsTotal: 160n },
  ];
  return [
    { ...base, state: OperationState.RUNNING, phase: "prepare", updateTime: at(4_000) },
    { ...base, state: OperationState.RUNNING, phase: "fence", updateTime: at(3_500), fencedMs: 10n },
    {
      ...base,
      state: OperationState.RUNNING,
      phase: "copy",
      tables: tables(50),
      fencedMs: 400n,
      estimatedCopyEndTime: timestampFromDate(new Date(Date.now() + 3_000)),
      updateTime: at(3_000),
    },
    {
      ...base,
      state: OperationState.RUNNING,
      phase: "copy",
      tables: tables(200),
      fencedMs: 900n,
      updateTime: at(2_000),
    },
    end === "succeeded"
      ? {
          ...base,
          state: OperationState.RUNNING,
          phase: "verify",
          tables: tables(200),
          fencedMs: 1_000n,
          updateTime: at(1_500),
        }
      : {
          ...base,
          state: OperationState.RUNNING,
          phase: "verify",
          tables: tables(200),
          fencedMs: 1_000n,
          attempts: 2,
          lastError: "checksum of projects.tasks differs",
          updateTime: at(1_500),
        },
    end === "succeeded"
      ? {
          ...base,
          state: OperationState.SUCCEEDED,
          phase: "done",
          tables: tables(200),
          fencedMs: 1_200n,
          updateTime: at(0),
        }
      : {
          ...base,
          state: OperationState.ROLLED_BACK,
          phase: "verify",
          tables: tables(200),
          fencedMs: 1_100n,
          lastError: "checksum of projects.tasks differs after 3 attempts",
          updateTime: at(0),
        },
  ];
};

describe("tenants move / delete / export against a scripted tenancy", () => {
  const fake = new Fake();
  let server: Http2Server;
  let url = "";
  const dirs: string[] = [];

  beforeAll(async () => {
    server = createServer(connectNodeAdapter({ routes: fake.routes }));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const reset = (script: OperationInit[], afterEnd: TenantInit | "gone") => {
    fake.current = tenant();
    fake.script = script;
    fake.polls = 0;
    fake.afterEnd = afterEnd;
  };

  it("move follows the phases, one line per change, and exits 0 with the new placement", async () => {
    reset(
      moveScript("succeeded"),
      tenant({ tier: Tier.BRIDGE, placement: { database: "eu-1/t_0b7e", namespace: "pool" } }),
    );
    const res = await run(["move", "acme", "--to", "bridge", "--server", "eu-1"], url);
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stdout.trim().split("\n");
    expect(lines[0]).toBe("move pool → bridge of acme: running, phase prepare");
    expect(lines).toContain("move pool → bridge of acme: running, phase fence, writes fenced 10 ms");
    expect(lines.find((l) => l.includes("phase copy, 50/200 rows (25%)"))).toMatch(/ETA \d/);
    expect(lines).toContain(
      "move pool → bridge of acme: running, phase copy, 200/200 rows (100%), writes fenced 900 ms",
    );
    expect(lines.at(-2)).toMatch(/^moved acme from pool to bridge in 5\.0 s \(writes fenced 1\.2 s\)$/);
    expect(lines.at(-1)).toBe("placement: database eu-1/t_0b7e, namespace pool");
    expect(res.stdout).not.toContain("\x1b[");
    expect(res.stderr).toBe("");
  });

  it("move --json prints one document; a rollback exits 1 with the last error", async () => {
    reset(moveScript("rolled_back"), tenant());
    const res = await run(["move", TENANT_ID, "--to", "bridge", "--server", "eu-1", "--json"], url);
    expect(res.code).toBe(1);
    const doc = JSON.parse(res.stdout);
    expect(doc.operation).toMatchObject({
      state: "rolled_back",
      phase: "verify",
      fromTier: "pool",
      toTier: "bridge",
      fencedMs: 1100,
      lastError: "checksum of projects.tasks differs after 3 attempts",
      tables: [
        { table: "projects.projects", rowsDone: 40, rowsTotal: 40 },
        { table: "projects.tasks", rowsDone: 160, rowsTotal: 160 },
      ],
    });
    expect(doc.tenant.tier).toBe("pool");
    expect(doc.error.code).toBe("ROLLED_BACK");
    expect(res.stderr).toBe(
      "tessera tenants move: the move of acme to bridge rolled back: checksum of projects.tasks differs after 3 attempts; the tenant stays pool\n",
    );
  });

  it("move --no-wait returns the started operation at once", async () => {
    reset(moveScript("succeeded"), tenant());
    const res = await run(["move", "acme", "--to", "bridge", "--server", "eu-1", "--no-wait"], url);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain("move pool → bridge of acme: running, phase prepare");
    expect(res.stdout).toContain("follow it with ./tessera tenants progress acme");
    expect(fake.polls).toBe(0);
  });

  it("delete --yes follows the deletion to its end, when the tenant is gone from the registry", async () => {
    const base = { id: "op-2", kind: "delete", createTime: at(3_000) };
    reset(
      [
        { ...base, state: OperationState.RUNNING, phase: "export", updateTime: at(2_000) },
        {
          ...base,
          state: OperationState.RUNNING,
          phase: "delete_data",
          exportId: "5f0c8d3e-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
          updateTime: at(1_000),
        },
        {
          ...base,
          state: OperationState.SUCCEEDED,
          phase: "done",
          exportId: "5f0c8d3e-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
          updateTime: at(0),
        },
      ],
      "gone",
    );
    fake.current = tenant({ status: TenantStatus.OFFBOARDING });
    const res = await run(["delete", "acme", "--yes", "--json"], url);
    expect(res.code, res.stderr).toBe(0);
    const doc = JSON.parse(res.stdout);
    expect(doc.tenant.status).toBe("deleted");
    expect(doc.operation).toMatchObject({
      kind: "delete",
      state: "succeeded",
      exportId: "5f0c8d3e-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
    });
  });

  describe("export", () => {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const files = {
      "projects.ndjson": Buffer.from('{"id":1,"name":"Roadmap"}\n{"id":2,"name":"Launch"}\n'),
      "identity.ndjson": Buffer.from('{"id":"u1","email":"ada@example.com"}\n'),
    };
    const manifest = JSON.stringify({
      tenantId: TENANT_ID,
      files: Object.entries(files).map(([name, data]) => ({
        name,
        sha256: createHash("sha256").update(data).digest("hex"),
        bytes: data.length,
      })),
    });
    const signature = sign(null, Buffer.from(manifest), privateKey).toString("base64url");
    const keyDir = mkdtempSync(join(tmpdir(), "tessera-export-key-"));
    dirs.push(keyDir);
    const pem = join(keyDir, "export.pub.pem");
    writeFileSync(pem, publicKey.export({ type: "spki", format: "pem" }));
    const jwks = join(keyDir, "jwks.json");
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...publicKey.export({ format: "jwk" }), kid: "export-2026" }] }));
    const otherKey = join(keyDir, "other.pub.pem");
    writeFileSync(otherKey, generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }));
    const outDir = () => {
      const d = mkdtempSync(join(tmpdir(), "tessera-export-"));
      dirs.push(d);
      return join(d, "bundle");
    };

    it("streams every file into DIR and verifies digests and the signature", async () => {
      reset([], tenant());
      fake.export = { files, manifest, signature };
      for (const key of [pem, jwks]) {
        const out = outDir();
        const res = await run(["export", "acme", "--out", out, "--public-key", key], url);
        expect(res.code, res.stderr + res.stdout).toBe(0);
        expect(readFileSync(join(out, "projects.ndjson"))).toEqual(files["projects.ndjson"]);
        expect(readFileSync(join(out, "manifest.json"), "utf8")).toBe(manifest);
        expect(res.stdout).toMatch(/^projects\.ndjson\s+2\s+51 B\s+ok$/m);
        expect(res.stdout).toContain("signature: valid (key export-2026)");
        expect(res.stdout.trim().split("\n").at(-1)).toBe("verified");
      }
      const out = outDir();
      const json = JSON.parse((await run(["export", "acme", "--out", out, "--json"], url)).stdout);
      expect(json).toMatchObject({
        ok: true,
        expectedFrom: "manifest",
        manifest: "matches",
        signature: { status: "unchecked" },
      });
      expect(json.files.map((f: { status: string }) => f.status)).toEqual(["ok", "ok"]);
      // the same folder again: nothing is overwritten
      const again = await run(["export", "acme", "--out", out], url);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/exists already: export into an empty folder/);
    });

    it("fails on a tampered file or a signature from another key", async () => {
      reset([], tenant());
      fake.export = { files, manifest, signature, tamper: "identity.ndjson" };
      const tampered = await run(["export", "acme", "--out", outDir(), "--public-key", pem], url);
      expect(tampered.code).toBe(1);
      expect(tampered.stdout).toMatch(/^identity\.ndjson\s+1\s+\S+ B\s+MISMATCH$/m);
      expect(tampered.stderr).toContain("identity.ndjson: size does not match the manifest");

      fake.export = { files, manifest, signature };
      const forged = await run(["export", "acme", "--out", outDir(), "--public-key", otherKey, "--json"], url);
      expect(forged.code).toBe(1);
      expect(JSON.parse(forged.stdout)).toMatchObject({ ok: false, signature: { status: "invalid" } });
    });
  });

  it("sent the credential on every call", () => {
    expect(fake.unauthenticated).toBe(0);
  });
});
