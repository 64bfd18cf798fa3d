import { type RunningMain, type RunningService, runMain, startMain } from "@tessera/test/harness";

const mainPath = new URL("../../../fixtures/echo-service/main.ts", import.meta.url).pathname;
const defaults = { PORT: "0", HOST: "127.0.0.1" };

/** The echo service running as its own process. */
export type EchoProcess = RunningService;

/** Runs `node test/fixtures/echo-service/main.ts` with the given environment, without waiting for it. */
export function runEchoMain(env: Record<string, string>): RunningMain {
  return runMain(mainPath, { ...defaults, ...env }, "echo-process");
}

/** Starts the echo service and waits (at most 15 s) for its "listening" line. */
export function startEchoProcess(env: Record<string, string>): Promise<EchoProcess> {
  return startMain(mainPath, { ...defaults, ...env }, { logName: "echo-process", timeoutMs: 15_000 });
}
