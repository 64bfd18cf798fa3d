import { type ChildProcess, spawn } from "node:child_process";

/** How one step of `./tessera test` ended. */
export type StepStatus = "passed" | "failed" | "skipped";

/** One row of the closing summary. */
export interface StepResult {
  name: string;
  status: StepStatus;
  durationMs: number;
  /** Short extra information: counts, an exit code, why it was skipped. */
  detail: string;
}

/** A command to run as a step, with its output going straight to the terminal. */
export interface CommandSpec {
  command: string;
  args: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** The step is stopped (SIGTERM, then SIGKILL) and failed after this long. */
  timeoutMs: number;
}

/** How a command ended. */
export interface CommandOutcome {
  /** Exit code, or undefined when it was killed by a signal or never started. */
  exitCode: number | undefined;
  /** Why it did not end normally (not found, timed out, killed by a signal). */
  problem: string | undefined;
  durationMs: number;
}

const KILL_GRACE_MS = 10_000;
let running: ChildProcess | undefined;

/** The step's process, while one runs (so a signal handler can pass SIGTERM on). */
export function currentStepProcess(): ChildProcess | undefined {
  return running;
}

/** Runs a command with inherited stdio and a deadline; never throws. */
export function runCommand(spec: CommandSpec): Promise<CommandOutcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    let timedOut = false;
    let settled = false;
    const child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env, stdio: "inherit" });
    running = child;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS).unref();
    }, spec.timeoutMs);
    const finish = (outcome: Omit<CommandOutcome, "durationMs">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (running === child) running = undefined;
      resolve({ ...outcome, durationMs: performance.now() - started });
    };
    child.once("error", (err: NodeJS.ErrnoException) => {
      const problem =
        err.code === "ENOENT"
          ? `${spec.command} not found (run ./tessera once so scripts/bootstrap installs the tools)`
          : err.message;
      finish({ exitCode: undefined, problem });
    });
    child.once("exit", (code, signal) => {
      if (timedOut) finish({ exitCode: undefined, problem: `timed out after ${Math.round(spec.timeoutMs / 1000)} s` });
      else if (code === null) finish({ exitCode: undefined, problem: `killed by ${signal}` });
      else finish({ exitCode: code, problem: code === 0 ? undefined : `exit code ${code}` });
    });
  });
}
