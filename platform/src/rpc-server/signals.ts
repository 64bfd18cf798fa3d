import type { Logger } from "../log/index.ts";
import { rootLogger } from "../log/index.ts";
import type { RpcServer } from "./server.ts";

export interface SignalHandlerOptions {
  /** Ends the process; default `process.exit`. main() passes one that flushes its logger first. */
  readonly exit?: (code: number) => void;
  /** Default SIGTERM and SIGINT. */
  readonly signals?: readonly NodeJS.Signals[];
  readonly logger?: Logger;
}

/**
 * On SIGTERM/SIGINT: graceful shutdown, then exit 0, or 1 when it had to be forced or a
 * shutdown hook failed. Further signals while shutting down are logged and ignored (the grace
 * period bounds the wait). Returns a function that removes the handlers.
 */
export function installSignalHandlers(server: RpcServer, options: SignalHandlerOptions = {}): () => void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const log = options.logger ?? rootLogger();
  const signals = options.signals ?? ["SIGTERM", "SIGINT"];
  let started = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (started) {
      log.warn({ signal }, "already shutting down");
      return;
    }
    started = true;
    server.shutdown(`received ${signal}`).then(
      (outcome) => exit(outcome.forced || outcome.hookFailures > 0 ? 1 : 0),
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        exit(1);
      },
    );
  };
  for (const signal of signals) process.on(signal, onSignal);
  return () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
}
