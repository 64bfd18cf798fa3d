import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { repoRoot } from "../paths.ts";
import { formatDuration, renderTable } from "../table.ts";
import { COUNTS_FILE_ENV, type VitestCounts } from "../vitest-reporter.ts";
import { type CommandOutcome, type CommandSpec, currentStepProcess, runCommand, type StepResult } from "./steps.ts";

/** What `./tessera test` was asked to do. */
export interface TestOptions {
  /** Skip biome, tsc and buf (implied by vitest filters). */
  skipStatic: boolean;
  /** Passed to `vitest run` as they are (file filters, `-t name`, …). */
  vitestArgs: string[];
}

/** Reads `test [--skip-static] [vitest filters…]`. */
export function parseTestArgs(argv: readonly string[]): TestOptions {
  const vitestArgs = argv.filter((a) => a !== "--skip-static");
  return { skipStatic: argv.includes("--skip-static") || vitestArgs.length > 0, vitestArgs };
}

const MINUTE = 60_000;
const bin = (name: string) => join(repoRoot, "node_modules/.bin", name);
const protoDir = join(repoRoot, "proto");
const buf = join(protoDir, "node_modules/.bin/buf");

/** The closing tally: vitest tests plus one per other step. */
interface Tally {
  passed: number;
  failed: number;
  vitestPassed: number;
}

function outcomeStatus(outcome: CommandOutcome): StepResult["status"] {
  return outcome.exitCode === 0 ? "passed" : "failed";
}

function readCounts(file: string): VitestCounts | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const value = JSON.parse(readFileSync(file, "utf8")) as Partial<VitestCounts>;
    const { passed, failed, skipped } = value;
    if (typeof passed === "number" && typeof failed === "number" && typeof skipped === "number")
      return { passed, failed, skipped };
  } catch {}
  return undefined;
}

/**
 * Runs every check in order — biome, tsc, buf lint, buf breaking, vitest, the log scan — going on
 * after failures, prints a summary table and, as the very last line, `N passed, N failed`.
 * Resolves to the process exit code: 0 only when nothing failed and at least one test passed.
 */
export async function runTests(options: TestOptions): Promise<number> {
  const runDir = mkdtempSync(join(tmpdir(), "tessera-test-"));
  const countsFile = join(runDir, "vitest-counts.json");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // Children use this very Node 24 and the workspace's tools, whatever PATH the caller had.
    PATH: [dirname(process.execPath), join(repoRoot, "node_modules/.bin"), process.env.PATH ?? ""].join(delimiter),
    TESSERA_TEST_RUN_DIR: runDir,
    [COUNTS_FILE_ENV]: countsFile,
  };
  const results: StepResult[] = [];
  const tally: Tally = { passed: 0, failed: 0, vitestPassed: 0 };
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = true;
    // A terminal's Ctrl-C already reached the step (same process group); a SIGTERM sent to us alone did not.
    if (signal === "SIGTERM") currentStepProcess()?.kill("SIGTERM");
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const step = async (name: string, spec: Omit<CommandSpec, "env">, counted = true): Promise<CommandOutcome> => {
    if (interrupted) {
      results.push({ name, status: "skipped", durationMs: 0, detail: "interrupted" });
      return { exitCode: undefined, problem: "interrupted", durationMs: 0 };
    }
    const shown = [spec.command === process.execPath ? "node" : spec.command, ...spec.args];
    process.stdout.write(`\n▶ ${name}: ${shown.map((part) => part.replace(`${repoRoot}/`, "")).join(" ")}\n`);
    const outcome = await runCommand({ ...spec, env });
    const status = outcomeStatus(outcome);
    results.push({ name, status, durationMs: outcome.durationMs, detail: outcome.problem ?? "" });
    if (counted) tally[status === "passed" ? "passed" : "failed"]++;
    return outcome;
  };

  try {
    if (options.skipStatic) {
      for (const name of ["biome", "tsc", "buf lint", "buf breaking"])
        results.push({ name, status: "skipped", durationMs: 0, detail: "filters or --skip-static" });
    } else {
      await step("biome", { command: bin("biome"), args: ["ci", "."], cwd: repoRoot, timeoutMs: 5 * MINUTE });
      await step("tsc", {
        command: bin("tsc"),
        args: ["-p", "tsconfig.json", "--noEmit"],
        cwd: repoRoot,
        timeoutMs: 10 * MINUTE,
      });
      await step("buf lint", { command: buf, args: ["lint"], cwd: protoDir, timeoutMs: 2 * MINUTE });
      await step("buf breaking", {
        command: buf,
        args: ["breaking", "--path", "tessera", "--against", "released/contracts.binpb"],
        cwd: protoDir,
        timeoutMs: 2 * MINUTE,
      });
    }

    const vitest = await step(
      "vitest",
      {
        command: bin("vitest"),
        args: ["run", "--config", join(repoRoot, "vitest.config.ts"), ...options.vitestArgs],
        cwd: repoRoot,
        timeoutMs: 60 * MINUTE,
      },
      false,
    );
    const vitestRow = results.at(-1);
    if (vitestRow && vitestRow.detail !== "interrupted") {
      const counts = readCounts(countsFile);
      tally.passed += counts?.passed ?? 0;
      tally.failed += counts?.failed ?? 0;
      tally.vitestPassed = counts?.passed ?? 0;
      // A vitest that failed without failing a test (no files matched, a crashed global setup) still fails the run.
      const unexplained = vitest.exitCode !== 0 && (counts?.failed ?? 0) === 0;
      if (unexplained) tally.failed++;
      if (unexplained) vitestRow.status = "failed";
      vitestRow.detail = [
        counts ? `${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped` : "no counts reported",
        vitest.problem,
      ]
        .filter(Boolean)
        .join("; ");
    }

    await step("log scan", {
      command: process.execPath,
      args: [join(repoRoot, "test/log-scan/main.ts"), runDir],
      cwd: repoRoot,
      timeoutMs: 2 * MINUTE,
    });
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    rmSync(runDir, { recursive: true, force: true });
  }

  const table = renderTable(
    ["step", "result", "duration", "detail"],
    results.map((r) => [r.name, r.status, r.status === "skipped" ? "-" : formatDuration(r.durationMs), r.detail]),
  );
  process.stdout.write(`\n${table}\n\n`);
  if (tally.vitestPassed === 0 && !interrupted) process.stdout.write("no test passed: the run cannot be green\n");
  if (interrupted) process.stdout.write("interrupted\n");
  process.stdout.write(`${tally.passed} passed, ${tally.failed} failed\n`);
  if (interrupted) return 130;
  return tally.failed === 0 && tally.vitestPassed > 0 ? 0 : 1;
}
