/**
 * `node test/log-scan/main.ts <runDir>`: scans a test run's captured logs; exits 1 on any finding.
 * The `./tessera test` command runs it after vitest.
 */
import { existsSync } from "node:fs";
import { formatScan, scanRunDir } from "./scan.ts";

const runDir = process.argv[2];
if (!runDir || !existsSync(runDir)) {
  console.error(
    `usage: node test/log-scan/main.ts <runDir>  (${runDir ? `${runDir} does not exist` : "no runDir given"})`,
  );
  process.exit(2);
}
try {
  const result = scanRunDir(runDir);
  console.log(formatScan(result));
  process.exit(result.findings.length === 0 ? 0 : 1);
} catch (err) {
  console.error(`log scan failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}
