import { writeFileSync } from "node:fs";
import type { Reporter, TestModule } from "vitest/node";

/** What the reporter writes to the file named by {@link COUNTS_FILE_ENV}. */
export interface VitestCounts {
  passed: number;
  failed: number;
  skipped: number;
}

/** Env var naming a file the reporter writes its {@link VitestCounts} to (set by `./tessera test`). */
export const COUNTS_FILE_ENV = "TESSERA_VITEST_COUNTS";

/**
 * Prints the plain closing line CI reads: `N passed, N failed, N skipped`, and writes the same
 * counts as JSON to `$TESSERA_VITEST_COUNTS` when set. A module that failed to load, or an
 * unhandled error, counts as a failure so a broken file can never look green.
 */
export default class CountReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    const counts: VitestCounts = { passed: 0, failed: 0, skipped: 0 };
    for (const mod of testModules) {
      let tests = 0;
      for (const test of mod.children.allTests()) {
        tests++;
        const state = test.result().state;
        if (state === "passed") counts.passed++;
        else if (state === "failed") counts.failed++;
        else counts.skipped++;
      }
      if (mod.state() === "failed" && tests === 0) counts.failed++;
    }
    counts.failed += unhandledErrors.length;
    process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
    const file = process.env[COUNTS_FILE_ENV];
    if (file) writeFileSync(file, JSON.stringify(counts));
  }
}
