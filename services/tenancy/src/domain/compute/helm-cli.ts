import { execFile } from "node:child_process";
import { tmpdir } from "node:os";

/** Environment variables helm may see: never tenancy's own secrets (database URLs, signing keys). */
const PASSED_ENV =
  /^(PATH|HOME|TMPDIR|LANG|LC_ALL|XDG_[A-Z_]+|HELM_[A-Z_]+|KUBERNETES_SERVICE_(HOST|PORT)|HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy)$/;

const MAX_ERROR = 1_000;

const REDACTIONS: ReadonlyArray<readonly [RegExp, string]> = [
  [/(bearer\s+)[^\s"']+/gi, "$1[redacted]"],
  [/\b(token|password|passwd|secret|client-key-data|api[-_]?key)(["']?\s*[:=]\s*["']?)[^\s"',}]+/gi, "$1$2[redacted]"],
  [/([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi, "$1[redacted]@"],
];

/** Credentials that could appear in a tool's output, replaced by `[redacted]`. */
export function scrub(text: string): string {
  return REDACTIONS.reduce((t, [re, by]) => t.replace(re, by), text);
}

/**
 * What to show of helm's stderr: its `Error:` line first, then its warnings (info and debug log
 * lines dropped), on one line, credentials redacted, bounded.
 */
export function helmErrorText(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !/^level=(INFO|DEBUG)\b/.test(l));
  const at = lines.findIndex((l) => l.startsWith("Error:"));
  // the Error message runs until the next log line (helm's errors may span lines)
  const end = at < 0 ? at : lines.findIndex((l, i) => i > at && /^level=/.test(l));
  const error = at < 0 ? [] : lines.slice(at, end < 0 ? undefined : end);
  const others = at < 0 ? lines : [...lines.slice(0, at), ...(end < 0 ? [] : lines.slice(end))];
  // helm logs the failure it then reports: a warning that says nothing the Error does not is dropped
  const flat = (s: string) => s.replace(/\\n/g, " ").replace(/\s+/g, " ").trim();
  const said = flat(error.join(" "));
  const repeats = (l: string) => {
    const logged = /^level=WARN\b.*\berror="(.*)"$/.exec(l)?.[1];
    return logged !== undefined && said.includes(flat(logged));
  };
  const ordered = [...error, ...others.filter((l) => !repeats(l))];
  return scrub(ordered.join(" ").replace(/\s+/g, " ")).slice(0, MAX_ERROR);
}

/** A failed helm command, its message carrying helm's own text. */
export class HelmError extends Error {
  override name = "HelmError";
  /** helm ran and said why it failed (not: stopped, timed out, not found). */
  readonly fromHelm: boolean;

  constructor(message: string, fromHelm = false) {
    super(message);
    this.fromHelm = fromHelm;
  }
}

/** Runs helm: resolves with stdout, rejects with a {@link HelmError}. */
export type Helm = (what: string, args: readonly string[], signal: AbortSignal, deadline: number) => Promise<string>;

/**
 * helm as a child process: `execFile` (no shell), an environment of its own, `--kubeconfig` when
 * given, bounded by `deadline`; SIGTERM on abort or deadline (helm records the release as failed),
 * SIGKILL `killGraceMs` later.
 */
export function helmRunner(helmBin: string, kubeconfig: string | undefined, killGraceMs: number): Helm {
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k, v]) => v !== undefined && PASSED_ENV.test(k)),
  );
  env.HOME ??= tmpdir();
  const common = kubeconfig ? ["--kubeconfig", kubeconfig] : [];
  return (what, args, signal, deadline) => {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return Promise.reject(new HelmError(`${what}: the step's deadline has passed`));
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      let hardKill: NodeJS.Timeout | undefined;
      const child = execFile(
        helmBin,
        [...args, ...common],
        { env, signal, timeout: remaining, killSignal: "SIGTERM", maxBuffer: 16 * 1024 * 1024, encoding: "utf8" },
        (err, stdout, stderr) => {
          clearTimeout(hardKill);
          signal.removeEventListener("abort", escalate);
          if (!err) {
            resolve(stdout);
            return;
          }
          if (signal.aborted) {
            reject(new HelmError(`${what}: stopped (${String((signal.reason as Error)?.message ?? signal.reason)})`));
            return;
          }
          const e = err as NodeJS.ErrnoException & { killed?: boolean };
          if (e.code === "ENOENT") {
            reject(new HelmError(`${what}: helm executable "${helmBin}" not found`));
            return;
          }
          if (e.killed) {
            reject(new HelmError(`${what}: did not finish within ${Math.round(remaining / 1000)} s`));
            return;
          }
          const text = helmErrorText(stderr);
          reject(new HelmError(`${what}: ${text || scrub(e.message)}`, text !== ""));
        },
      );
      function escalate() {
        hardKill = setTimeout(() => child.kill("SIGKILL"), killGraceMs);
        hardKill.unref();
      }
      signal.addEventListener("abort", escalate, { once: true });
      // execFile's own timeout sends SIGTERM; this makes sure helm is gone a grace later
      const backstop = setTimeout(escalate, remaining);
      backstop.unref();
      child.once("exit", () => clearTimeout(backstop));
    });
  };
}

/** helm's `--timeout`: what remains of the deadline less a margin (at least 5 s), times `share`. */
export function helmTimeout(deadline: number, share = 1): string {
  const remaining = deadline - Date.now();
  const margin = Math.min(30_000, Math.max(5_000, remaining * 0.1));
  return `${Math.max(5, Math.floor(((remaining - margin) * share) / 1000))}s`;
}

/**
 * helm's text says the cluster could not be reached or was briefly unable to answer: worth another
 * attempt, whatever the command was doing.
 */
export const UNREACHABLE =
  /connection refused|no such host|i\/o timeout|TLS handshake timeout|Kubernetes cluster unreachable|server is currently unable to handle the request|unable to return a response in the time allotted|etcdserver:|connection reset by peer|unexpected EOF|http2: client connection lost|Too Many Requests|another operation \(install\/upgrade\/rollback\) is in progress/i;
