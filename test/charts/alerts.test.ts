import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it as vitestIt } from "vitest";
import { checkExpr, checkRuleFile, loadRuleFile, type RuleFile } from "../../tools/dev/src/metrics/rules.ts";
import {
  type ChartName,
  type K8sObject,
  parseYamlFiles,
  prepareCharts,
  repoRoot,
  requireTools,
  template,
  valueSets,
} from "./support.ts";

/**
 * The charts' PrometheusRule and observability/alerts/tessera.rules.yaml (checked against the metrics
 * the services and gateways really emit by tools/dev/src/metrics/alert-rules.test.ts) are two
 * renderings of the same alerts: these tests keep them from drifting apart.
 */
const observability = loadRuleFile(readFileSync(join(repoRoot, "observability/alerts/tessera.rules.yaml"), "utf8"));
const observed = checkRuleFile(observability);
const observedAlerts = new Set(observability.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : []))));

/** Every `label=~"…"` matcher of the fault labels (gRPC status, GraphQL code, HTTP status) in some expressions. */
function faultMatchers(exprs: readonly string[]): Set<string> {
  const found = new Set<string>();
  for (const expr of exprs)
    for (const m of expr.matchAll(/(?<![A-Za-z0-9_])(rpc_response_status_code|status_code|code)\s*=~\s*"([^"]*)"/g))
      found.add(`${m[1]}=~"${m[2]}"`);
  return found;
}

let dir: string;
let setupError: unknown;
const rules = new Map<string, RuleFile>();

/** Renders a chart's `monitoring` value set (plus `--set`s) and returns its PrometheusRule's groups. */
async function renderRules(chart: ChartName, key: string, sets: readonly string[] = []): Promise<void> {
  const set = valueSets(dir).find((s) => s.chart === chart && s.name === "monitoring");
  if (!set) throw new Error(`no ${chart}/ci/monitoring-values.yaml`);
  const file = join(dirname(dir), `${key}.yaml`);
  writeFileSync(
    file,
    await template(
      dir,
      set,
      sets.flatMap((s) => ["--set", s]),
    ),
  );
  const objects = ((await parseYamlFiles([file]))[file] ?? []) as K8sObject[];
  const prs = objects.filter((o) => o.kind === "PrometheusRule");
  rules.set(key, { groups: prs.flatMap((o) => o.spec.groups) });
}

beforeAll(async () => {
  try {
    requireTools("helm", "python");
    dir = await prepareCharts();
    await Promise.all([
      renderRules("tessera-platform", "platform"),
      renderRules("tessera-tenant", "tenant"),
      renderRules("tessera-platform", "platform-no-gateways", [
        "graphqlGateway.enabled=false",
        "restGateway.enabled=false",
      ]),
    ]);
  } catch (err) {
    setupError = err;
  }
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dirname(dir), { recursive: true, force: true });
});

/** A test that fails (never skips) with the setup's error, e.g. "run scripts/bootstrap". */
function it(name: string, fn: () => unknown) {
  vitestIt(name, async () => {
    if (setupError) throw setupError;
    await fn();
  });
}

const ruleFile = (key: string): RuleFile => {
  const file = rules.get(key);
  if (!file) throw new Error(`not rendered: ${key}`);
  return file;
};
const alertsOf = (file: RuleFile) =>
  new Set(file.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : []))));
const exprsOf = (file: RuleFile) => file.groups.flatMap((g) => g.rules.map((r) => r.expr));

describe("charts: the PrometheusRule ships the alerts of observability/alerts/tessera.rules.yaml", () => {
  it("has every alert of the observability file (platform chart, Prometheus operator on)", () => {
    expect(observedAlerts.size).toBeGreaterThan(10);
    const rendered = alertsOf(ruleFile("platform"));
    expect([...observedAlerts].filter((a) => !rendered.has(a))).toEqual([]);
    // and nothing the observability file does not know
    expect([...rendered].filter((a) => !observedAlerts.has(a))).toEqual([]);
  });

  it("parses every rendered expression with Prometheus' PromQL grammar, and every rule is well-formed", () => {
    for (const key of ["platform", "tenant", "platform-no-gateways"]) {
      const file = ruleFile(key);
      expect(exprsOf(file).length, key).toBeGreaterThan(0);
      for (const expr of exprsOf(file)) expect(checkExpr(expr).problems, `${key}: ${expr}`).toEqual([]);
      expect(checkRuleFile(file).problems, key).toEqual([]);
    }
  });

  it("uses only metric names the observability file uses (so the alerts read the series the processes emit)", () => {
    for (const key of ["platform", "tenant"]) {
      const { metrics } = checkRuleFile(ruleFile(key));
      expect(
        [...metrics].filter((m) => !observed.metrics.has(m) || observed.recorded.has(m)),
        key,
      ).toEqual([]);
    }
    // the raw series of every group are covered: RPC, GraphQL, REST and NATS
    const { metrics } = checkRuleFile(ruleFile("platform"));
    const raw = [...observed.metrics].filter((m) => !observed.recorded.has(m));
    expect(raw.filter((m) => !metrics.has(m))).toEqual([]);
  });

  it("counts the same server-side faults as errors (gRPC codes, GraphQL codes, HTTP 5xx)", () => {
    const expected = faultMatchers(observability.groups.flatMap((g) => g.rules.map((r) => r.expr)));
    expect(expected.size).toBe(3);
    expect(faultMatchers(exprsOf(ruleFile("platform")))).toEqual(expected);
    for (const m of faultMatchers(exprsOf(ruleFile("tenant")))) expect(expected.has(m), m).toBe(true);
    // every error-rate alert filters its errors counter by a fault matcher
    for (const rule of ruleFile("platform").groups.flatMap((g) => g.rules))
      if (rule.alert?.includes("ErrorRate")) expect(faultMatchers([rule.expr]).size, rule.alert).toBe(1);
  });

  it("ships the GraphQL and REST rules only for the gateways that are enabled", () => {
    const withGateways = alertsOf(ruleFile("platform"));
    expect(withGateways).toContain("TesseraGraphQLOperationLatencyAboveSLO");
    expect(withGateways).toContain("TesseraRestRouteErrorRateCritical");
    const without = ruleFile("platform-no-gateways");
    expect([...alertsOf(without)].filter((a) => a.startsWith("TesseraGraphQL") || a.startsWith("TesseraRest"))).toEqual(
      [],
    );
    expect(exprsOf(without).some((e) => /graphql_operation_|http_server_/.test(e))).toBe(false);
    expect(alertsOf(without)).toContain("TesseraEndpointErrorRateHigh");
    // a tenant (no gateways) gets its services' RPC rules only
    const tenant = alertsOf(ruleFile("tenant"));
    expect([...tenant].every((a) => a.startsWith("TesseraEndpoint"))).toBe(true);
  });
});
