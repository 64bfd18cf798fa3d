import { existsSync } from "node:fs";
import type { RunningInfra } from "./stack.ts";

/**
 * Why containers cannot run here, or undefined when a Docker engine looks reachable.
 * Checked before importing testcontainers, which otherwise probes for a long time.
 */
export function containerRuntimeUnavailableReason(env = process.env): string | undefined {
  if (env.DOCKER_HOST) return undefined;
  if (existsSync("/var/run/docker.sock")) return undefined;
  if (env.XDG_RUNTIME_DIR && existsSync(`${env.XDG_RUNTIME_DIR}/docker.sock`)) return undefined;
  return "no Docker engine: neither DOCKER_HOST nor /var/run/docker.sock exists";
}

/** PostgreSQL and NATS (JetStream) in containers, for machines with a Docker engine. */
export async function startWithTestcontainers(): Promise<RunningInfra> {
  const reason = containerRuntimeUnavailableReason();
  if (reason) throw new Error(`TESSERA_INFRA=testcontainers: ${reason}`);
  const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
  const { NatsContainer } = await import("@testcontainers/nats");
  const pg = await new PostgreSqlContainer("postgres:18")
    .withUsername("postgres")
    .withPassword("tessera-local")
    .start();
  const nats = await new NatsContainer("nats:2.12").withJetStream().start();
  const natsUrl = `nats://${nats.getHost()}:${nats.getMappedPort(4222)}`;
  return {
    pgAdminUrl: pg.getConnectionUri(),
    natsUrl,
    started: { postgres: true, nats: true },
    stop: async () => {
      await nats.stop();
      await pg.stop();
    },
  };
}
