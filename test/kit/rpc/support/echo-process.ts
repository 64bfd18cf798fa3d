import { type ChildProcess, spawn } from "node:child_process";
import { captureLogs } from "@tessera/test/harness";

const mainPath = new URL("../../../fixtures/echo-service/main.ts", import.meta.url).pathname;

/** The echo service running as its own process, as Kubernetes would run it. */
export interface EchoProcess {
  child: ChildProcess;
  port: number;
  url: string;
  /** JSON log lines printed to stdout so far. */
  lines(): Array<Record<string, unknown>>;
  stderr(): string;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Runs `node test/fixtures/echo-service/main.ts` with the given environment, without waiting for it. */
export function runEchoMain(env: Record<string, string>) {
  const child = spawn(process.execPath, [mainPath], {
    env: { PATH: process.env.PATH ?? "", PORT: "0", HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs = captureLogs("echo-process");
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    logs.stream.write(chunk);
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const lines = () =>
    stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { child, exited, lines, stdout: () => stdout, stderr: () => stderr };
}

/** Starts the echo service and waits (at most 15 s) for its "listening" line. */
export async function startEchoProcess(env: Record<string, string>): Promise<EchoProcess> {
  const run = runEchoMain(env);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const listening = run.lines().find((l) => l.msg === "listening");
    if (listening && typeof listening.port === "number") {
      return { ...run, port: listening.port, url: `http://127.0.0.1:${listening.port}` };
    }
    if (run.child.exitCode !== null) throw new Error(`echo service exited early: ${run.stderr()}`);
    if (Date.now() > deadline) {
      run.child.kill("SIGKILL");
      throw new Error(`echo service did not log "listening" within 15 s: ${run.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
