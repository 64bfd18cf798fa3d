import type { Logger } from "../log/index.ts";

/** Work to do once in-flight calls have finished (drain NATS, close the database pool). */
export type ShutdownHook = () => Promise<void>;

/**
 * Runs the hooks one after another, in the order given, all within `budgetMs`. A hook that
 * fails or overruns is logged and counted, and the next one still runs.
 */
export async function runShutdownHooks(hooks: readonly ShutdownHook[], budgetMs: number, log: Logger): Promise<number> {
  const deadline = Date.now() + budgetMs;
  let failures = 0;
  for (const [index, hook] of hooks.entries()) {
    const name = hook.name || `hook#${index}`;
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      log.error({ hook: name }, "no time left for shutdown hook");
      failures++;
      continue;
    }
    let timer: NodeJS.Timeout | undefined;
    const overrun = new Promise<"overrun">((resolve) => {
      timer = setTimeout(() => resolve("overrun"), remaining);
    });
    try {
      const outcome = await Promise.race([hook().then(() => "done" as const), overrun]);
      if (outcome === "overrun") {
        log.error({ hook: name, budget_ms: remaining }, "shutdown hook overran its time");
        failures++;
      }
    } catch (err) {
      log.error({ err, hook: name }, "shutdown hook failed");
      failures++;
    } finally {
      clearTimeout(timer);
    }
  }
  return failures;
}
