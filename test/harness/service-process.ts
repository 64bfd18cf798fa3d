import { type ChildProcess, spawn } from "node:child_process";
import { captureLogs } from "./logs.ts";

/** A Node entry point (`main.ts`) running as its own process, as Kubernetes would run it. */
export interface RunningMain {
  child: ChildProcess;
  /** JSON log lines printed to stdout so far. */
  lines(): Array<Record<string, unknown>>;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** A started service: its RunningMain plus the port and URL from its "listening" line. */
export interface RunningService extends RunningMain {
  port: number;
  url: string;
}

/**
 * Runs `node <mainPath>` with exactly the given environment (plus PATH), capturing its stdout
 * into the run's log folder (so the whole-run log scan reads it), without waiting for it.
 */
export function runMain(mainPath: string, env: Record<string, string>, logName = "process"): RunningMain {
  const child = spawn(process.execPath, [mainPath], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs = captureLogs(logName);
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

/** Runs a service's main and waits (at most timeoutMs) for its kit-logged "listening" line. */
export async function startMain(
  mainPath: string,
  env: Record<string, string>,
  { logName = "service", timeoutMs = 20_000 }: { logName?: string; timeoutMs?: number } = {},
): Promise<RunningService> {
  const run = runMain(mainPath, env, logName);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const listening = run.lines().find((l) => l.msg === "listening");
    if (listening && typeof listening.port === "number") {
      return { ...run, port: listening.port, url: `http://127.0.0.1:${listening.port}` };
    }
    if (run.child.exitCode !== null) throw new Error(`${mainPath} exited early: ${run.stderr()}${run.stdout()}`);
    if (Date.now() > deadline) {
      run.child.kill("SIGKILL");
      throw new Error(`${mainPath} did not log "listening" within ${timeoutMs} ms: ${run.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Sends SIGTERM and waits for the exit (SIGKILL after timeoutMs). */
export async function stopMain(run: RunningMain, timeoutMs = 15_000): Promise<number | null> {
  if (run.child.exitCode !== null) return run.child.exitCode;
  run.child.kill("SIGTERM");
  const timer = setTimeout(() => run.child.kill("SIGKILL"), timeoutMs);
  const { code } = await run.exited;
  clearTimeout(timer);
  return code;
}
