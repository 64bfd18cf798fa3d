import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import pg from "pg";
import { describe, expect, it, vi } from "vitest";
import { containerRuntimeUnavailableReason, type RunningInfra, startInfra } from "../src/infra/index.ts";

const unavailable = containerRuntimeUnavailableReason();
if (unavailable) console.log(`testcontainers provider test skipped: ${unavailable}`);

describe("TESSERA_INFRA=testcontainers", () => {
  it.skipIf(unavailable !== undefined)(
    "starts PostgreSQL and NATS in containers that answer a query and a JetStream publish",
    async () => {
      vi.stubEnv("TESSERA_INFRA", "testcontainers");
      let infra: RunningInfra | undefined;
      try {
        infra = await startInfra({ dataDir: "/nonexistent-unused-by-containers", persistent: false });
        const db = new pg.Client({ connectionString: infra.pgAdminUrl, connectionTimeoutMillis: 10_000 });
        await db.connect();
        try {
          const { rows } = await db.query<{ version: string }>("select version()");
          expect(rows[0]?.version).toMatch(/^PostgreSQL 18/);
        } finally {
          await db.end();
        }
        const nc = await connect({ servers: infra.natsUrl, timeout: 10_000 });
        try {
          const jsm = await jetstreamManager(nc, { timeout: 10_000 });
          await jsm.streams.add({ name: "TC_SMOKE", subjects: ["tc.smoke"] });
          const ack = await jetstream(nc, { timeout: 10_000 }).publish("tc.smoke", "hello");
          expect(ack).toMatchObject({ stream: "TC_SMOKE", seq: 1 });
        } finally {
          await nc.close();
        }
      } finally {
        vi.unstubAllEnvs();
        await infra?.stop();
      }
    },
    300_000,
  );
});
