import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { freePort, waitForPort } from "./ports.ts";

const repoRoot = new URL("../../../../", import.meta.url).pathname;

/** Path of the nats-server that scripts/bootstrap builds into .tools/bin. */
export const natsServerBinary = process.env.NATS_SERVER_BIN ?? join(repoRoot, ".tools/bin/nats-server");

export interface NatsOptions {
  /** JetStream store directory; reuse it across restarts to keep streams. */
  storeDir: string;
  port?: number;
  onLog?: (line: string) => void;
}

export interface RunningNats {
  url: string;
  port: number;
  /** Graceful stop (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** Hard kill (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store. */
  restart(): Promise<void>;
}

/** Starts nats-server with JetStream on 127.0.0.1 only. */
export async function startNats(options: NatsOptions): Promise<RunningNats> {
  const port = options.port ?? (await freePort());
  mkdirSync(options.storeDir, { recursive: true });
  let child: ChildProcess | undefined;

  const launch = async () => {
    const proc = spawn(natsServerBinary, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", options.storeDir], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    const forward = (chunk: Buffer) => options.onLog?.(chunk.toString());
    proc.stdout?.on("data", forward);
    proc.stderr?.on("data", forward);
    const exited = new Promise<never>((_, reject) =>
      proc.once("exit", (code) => reject(new Error(`nats-server exited early with code ${code}`))),
    );
    exited.catch(() => {});
    await Promise.race([waitForPort(port, 20_000), exited]);
  };

  const terminate = async (signal: NodeJS.Signals) => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const done = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
    await done;
    clearTimeout(timer);
  };

  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    stop: () => terminate("SIGTERM"),
    kill: () => terminate("SIGKILL"),
    restart: launch,
  };
}
