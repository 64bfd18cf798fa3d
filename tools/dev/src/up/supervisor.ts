import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";

/** How a child ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child process `up` started and will stop. */
export interface Supervised {
  name: string;
  pid: number | undefined;
  /** Settles when the process has exited (or failed to start: code null, signal null). */
  exited: Promise<ChildExit>;
  running(): boolean;
  /** SIGTERM to its process group, SIGKILL after graceMs; resolves once it has exited. */
  stop(graceMs: number): Promise<void>;
}

/** What to start. */
export interface ChildSpec {
  /** Prefix of every output line. */
  label: string;
  command: string;
  args: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Where prefixed lines go (stdout by default). */
  write?: (line: string) => void;
}

function pipeLines(stream: Readable | null, label: string, write: (line: string) => void): void {
  if (!stream) return;
  createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) =>
    write(`${label} | ${line}`),
  );
}

function describeExit({ code, signal }: ChildExit): string {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}

/**
 * Starts a child in its own process group (so a terminal's Ctrl-C reaches only `up`, which then
 * stops children in order) with every output line prefixed by its label.
 */
export function startSupervised(spec: ChildSpec): Supervised {
  const write = spec.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const child: ChildProcess = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: spec.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  pipeLines(child.stdout, spec.label, write);
  pipeLines(child.stderr, spec.label, write);
  let done = false;
  const exited = new Promise<ChildExit>((resolve) => {
    child.once("exit", (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
    child.once("error", (err) => {
      write(`${spec.label} | could not start: ${err.message}`);
      done = true;
      resolve({ code: null, signal: null });
    });
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    if (done || child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      child.kill(signal);
    }
  };
  return {
    name: spec.label,
    pid: child.pid,
    exited,
    running: () => !done,
    stop: async (graceMs) => {
      if (done) return;
      signalGroup("SIGTERM");
      const timer = setTimeout(() => signalGroup("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs a child to completion within timeoutMs; throws a readable error when it fails or overruns. */
export async function runToCompletion(spec: ChildSpec & { timeoutMs: number; graceMs: number }): Promise<void> {
  const child = startSupervised(spec);
  let timer: NodeJS.Timeout | undefined;
  const overran = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), spec.timeoutMs);
  });
  const result = await Promise.race([child.exited, overran]);
  clearTimeout(timer);
  if (result === "timeout") {
    await child.stop(spec.graceMs);
    throw new Error(`${spec.label} did not finish within ${Math.round(spec.timeoutMs / 1000)} s`);
  }
  if (result.code !== 0) throw new Error(`${spec.label} failed (${describeExit(result)})`);
}
