import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** What a log line did wrong. */
export type FindingRule =
  | "not-json"
  | "missing-field"
  | "bad-tenant"
  | "untraced-request"
  | "jwt"
  | "bearer"
  | "credential"
  | "registered-secret";

/** One problem on one line of a captured log file. */
export interface Finding {
  file: string;
  /** 1-based line number. */
  line: number;
  rule: FindingRule;
  message: string;
  /** The line, shortened, with every detected secret masked so the report never leaks one. */
  excerpt: string;
}

/** The outcome of scanning a test run's logs. */
export interface ScanResult {
  files: number;
  lines: number;
  /** Number of registered secrets checked for. */
  secrets: number;
  findings: Finding[];
}

type LineFinding = Pick<Finding, "rule" | "message">;

const JWT = /eyJ[\w-]{5,}\.[\w-]+\.[\w-]*/g;
// A Bearer credential: 16+ token characters that are not just a lower-case word ("Bearer authentication").
const BEARER = /\bBearer\s+([\w\-.~+/]{16,}=*)/gi;
// Identity's opaque credentials: API keys (tsk_live_<prefix>_<secret>), refresh (tsr_…), invitation (tsi_…) tokens and SSO login codes (tso_…).
const CREDENTIAL = /\b(?:tsk_live_[0-9a-f]{12}_[\w-]{8,}|ts[rio]_[\w-]{20,})/g;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** What the platform logger writes as tenant_id for work of no tenant (PLATFORM_TENANT in the log kit). */
export const PLATFORM_MARKER = "-platform-";
const TRACE_ID = /^(?!0{32})[0-9a-f]{32}$/;
const MASK = "[…]";

/** A request line: logged while serving a unit of work, which the logger marks with a request_id. */
function isRequestLine(record: Record<string, unknown>): boolean {
  return typeof record.request_id === "string" && record.request_id.length > 0;
}

const EXCERPT_LENGTH = 200;

/** The JSON-escaped form a secret takes inside a log line, when it differs from the raw value. */
function encodedForms(secret: string): string[] {
  const escaped = JSON.stringify(secret).slice(1, -1);
  return escaped === secret ? [secret] : [secret, escaped];
}

function bearerTokens(text: string): string[] {
  return [...text.matchAll(BEARER)].map((m) => m[1] ?? "").filter((token) => !/^[a-z_]+$/.test(token));
}

/** Rules on the fields of a parsed line: service, tenant_id (a UUID or the platform marker), and a trace on request lines. */
function checkFields(record: Record<string, unknown>, found: LineFinding[]): void {
  for (const field of ["service", "tenant_id"]) {
    const value = record[field];
    if (typeof value !== "string" || value.length === 0)
      found.push({ rule: "missing-field", message: `no ${field} (a non-empty string) on the line` });
  }
  const tenant = record.tenant_id;
  if (typeof tenant === "string" && tenant.length > 0 && tenant !== PLATFORM_MARKER && !UUID.test(tenant)) {
    found.push({
      rule: "bad-tenant",
      message: `tenant_id is neither a UUID nor the platform marker ${PLATFORM_MARKER}`,
    });
  }
  const traceId = record.trace_id;
  if (isRequestLine(record) && !(typeof traceId === "string" && TRACE_ID.test(traceId))) {
    found.push({ rule: "untraced-request", message: "a request line (request_id) without a trace_id" });
  }
}

/**
 * Checks one log line: a single-line JSON object with `service` and `tenant_id` (a UUID or the
 * platform marker), a `trace_id` on every request line (one with `request_id`), and no
 * credential in it.
 */
export function scanLine(text: string, secrets: readonly string[]): LineFinding[] {
  const found: LineFinding[] = [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    found.push({ rule: "not-json", message: "line is not valid JSON" });
  }
  if (text.includes("\r")) found.push({ rule: "not-json", message: "line contains a raw carriage return" });
  if (parsed !== undefined) {
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      found.push({ rule: "not-json", message: "line is JSON but not an object" });
    } else {
      checkFields(parsed as Record<string, unknown>, found);
    }
  }
  if (text.match(JWT)) found.push({ rule: "jwt", message: "a JWT-looking string (eyJ….….…) is logged" });
  if (bearerTokens(text).length > 0) found.push({ rule: "bearer", message: "a Bearer credential is logged" });
  if (text.match(CREDENTIAL))
    found.push({ rule: "credential", message: "an API key, refresh or invitation token (tsk_/tsr_/tsi_) is logged" });
  if (secrets.some((s) => encodedForms(s).some((form) => text.includes(form))))
    found.push({ rule: "registered-secret", message: "a value registered with registerSecret() is logged" });
  return found;
}

/** The line with every detected credential masked, cut to a readable length. */
export function maskLine(text: string, secrets: readonly string[]): string {
  let out = text.replace(JWT, MASK).replace(CREDENTIAL, MASK);
  for (const token of bearerTokens(out)) out = out.split(token).join(MASK);
  for (const secret of secrets) for (const form of encodedForms(secret)) out = out.split(form).join(MASK);
  return out.length > EXCERPT_LENGTH ? `${out.slice(0, EXCERPT_LENGTH)}…` : out;
}

function listFiles(dir: string, suffix: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith(suffix))
    .sort()
    .map((name) => join(dir, name));
}

/** Every value tests registered through the harness's registerSecret() (`<runDir>/secrets/*.ndjson`). */
export function readSecrets(runDir: string): string[] {
  const secrets = new Set<string>();
  for (const file of listFiles(join(runDir, "secrets"), ".ndjson")) {
    readFileSync(file, "utf8")
      .split("\n")
      .forEach((line, index) => {
        if (line.length === 0) return;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          throw new Error(`${file}:${index + 1}: not a JSON string (registerSecret writes one per line)`);
        }
        if (typeof value === "string" && value.length > 0) secrets.add(value);
      });
  }
  return [...secrets];
}

/** Scans every `<runDir>/logs/*.ndjson` line against the rules, with the run's registered secrets. */
export function scanRunDir(runDir: string): ScanResult {
  const secrets = readSecrets(runDir);
  const files = listFiles(join(runDir, "logs"), ".ndjson");
  const findings: Finding[] = [];
  let lines = 0;
  for (const file of files) {
    const content = readFileSync(file, "utf8");
    const rows = content.split("\n");
    // A trailing newline ends the last line; it does not start an empty one.
    if (rows.at(-1) === "") rows.pop();
    rows.forEach((text, index) => {
      lines++;
      for (const f of scanLine(text, secrets)) {
        findings.push({ file, line: index + 1, ...f, excerpt: maskLine(text, secrets) });
      }
    });
  }
  return { files: files.length, lines, secrets: secrets.length, findings };
}

/** A human report of a scan: a one-line verdict, then up to `limit` findings. */
export function formatScan(result: ScanResult, limit = 50): string {
  const head =
    `log scan: ${result.lines} lines in ${result.files} files, ${result.secrets} registered secrets, ` +
    `${result.findings.length} findings`;
  const shown = result.findings
    .slice(0, limit)
    .map((f) => `  ${f.file}:${f.line} [${f.rule}] ${f.message}\n    ${f.excerpt}`);
  const more = result.findings.length > limit ? [`  … and ${result.findings.length - limit} more`] : [];
  return [head, ...shown, ...more].join("\n");
}
