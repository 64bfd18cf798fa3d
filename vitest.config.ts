import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "platform/src/**/*.test.ts",
      "proto/test/**/*.test.ts",
      "services/*/test/**/*.test.ts",
      "services/*/src/**/*.test.ts",
      "gateway/*/test/**/*.test.ts",
      "gateway/*/src/**/*.test.ts",
      "tools/*/src/**/*.test.ts",
      "tools/*/test/**/*.test.ts",
      "test/**/*.test.ts",
    ],
    exclude: ["**/node_modules/**"],
    globalSetup: ["./test/harness/global-setup.ts"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    reporters: ["default", "./tools/dev/src/vitest-reporter.ts"],
  },
});
