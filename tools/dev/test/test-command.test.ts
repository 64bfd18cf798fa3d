import { describe, expect, it } from "vitest";
import { parseTestArgs } from "../src/test-run/command.ts";
import { cleanEnv, startCli } from "./cli-process.ts";

const RUN_TIMEOUT_MS = 180_000;
const lastLine = (text: string) => text.trimEnd().split("\n").at(-1);

describe("tessera test arguments", () => {
  it("runs everything by default; filters or --skip-static skip biome, tsc and buf", () => {
    expect(parseTestArgs([])).toEqual({ skipStatic: false, vitestArgs: [] });
    expect(parseTestArgs(["--skip-static"])).toEqual({ skipStatic: true, vitestArgs: [] });
    expect(parseTestArgs(["platform/src/log", "-t", "redacts"])).toEqual({
      skipStatic: true,
      vitestArgs: ["platform/src/log", "-t", "redacts"],
    });
  });
});

describe("tessera test (as a child process, with a vitest filter)", () => {
  it(
    "runs the filtered tests and the log scan over the run's logs, and ends with the count line",
    async () => {
      const run = startCli(["test", "test/log-scan/scan.test.ts"], cleanEnv({ CI: "true" }));
      expect(await run.exited(RUN_TIMEOUT_MS)).toBe(0);
      const out = run.output();
      // the file's tests plus the log-scan step; static steps are skipped, not counted
      const vitestLine = out.match(/^vitest\s+passed\s+\S+ m?s\s+(\d+) passed, 0 failed, 0 skipped$/m);
      expect(Number(vitestLine?.[1])).toBeGreaterThan(0);
      expect(lastLine(out)).toBe(`${Number(vitestLine?.[1]) + 1} passed, 0 failed`);
      expect(out).toMatch(/^biome\s+skipped\s+-\s+filters or --skip-static$/m);
      expect(out).toMatch(/^log scan\s+passed\s+/m);
      // The scan read the run dir that vitest's global setup used: the secret the test registered is there.
      expect(out).toMatch(/log scan: \d+ lines in \d+ files, 1 registered secrets, 0 findings/);
    },
    RUN_TIMEOUT_MS + 10_000,
  );

  it(
    "fails when no test ran, and says so",
    async () => {
      const run = startCli(["test", "--skip-static", "no/such/test-file"], cleanEnv({ CI: "true" }));
      expect(await run.exited(RUN_TIMEOUT_MS)).toBe(1);
      const out = run.output();
      expect(out).toContain("no test passed: the run cannot be green");
      expect(out).toMatch(/^vitest\s+failed\s+/m);
      expect(lastLine(out)).toBe("1 passed, 1 failed");
    },
    RUN_TIMEOUT_MS + 10_000,
  );
});
