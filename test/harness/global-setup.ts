import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startInfra } from "@tessera/dev/infra";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** Superuser URL of the test run's PostgreSQL (tests create their own databases from it). */
    pgAdminUrl: string;
    /** URL of the test run's NATS server with JetStream. */
    natsUrl: string;
    /** Folder for this run's scratch files (logs captured from child processes, stores). */
    runDir: string;
  }
}

/** Starts one PostgreSQL and one NATS for the whole run, on free loopback ports, and stops them after. */
export default async function setup(project: TestProject) {
  // `./tessera test` names the run dir so it can scan the logs left there; it deletes it afterwards.
  const givenRunDir = process.env.TESSERA_TEST_RUN_DIR;
  const runDir = givenRunDir || mkdtempSync(join(tmpdir(), "tessera-test-"));
  mkdirSync(runDir, { recursive: true });
  const infra = await startInfra({ dataDir: runDir, persistent: false, fast: true });
  project.provide("pgAdminUrl", infra.pgAdminUrl);
  project.provide("natsUrl", infra.natsUrl);
  project.provide("runDir", runDir);
  return async () => {
    await infra.stop();
    if (!givenRunDir) rmSync(runDir, { recursive: true, force: true });
  };
}
