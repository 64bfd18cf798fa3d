import { parser } from "@prometheus-io/lezer-promql";
import { parse as parseYaml } from "yaml";

type SyntaxNode = ReturnType<typeof parser.parse>["topNode"];

/** One rule of a Prometheus rule group. */
export interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A Prometheus rule file (`groups:`). */
export interface RuleFile {
  groups: Array<{ name: string; interval?: string; rules: Rule[] }>;
}

/** What checking one expression found. */
export interface ExprCheck {
  problems: string[];
  /** Every metric name the expression selects. */
  metrics: string[];
}

/** Functions whose argument must be a range vector (`x[5m]` or a subquery). */
const RANGE_FUNCTIONS = new Set([
  "Rate",
  "Irate",
  "Increase",
  "Delta",
  "Idelta",
  "Deriv",
  "Changes",
  "Resets",
  "PredictLinear",
  "HoltWinters",
  "AvgOverTime",
  "MinOverTime",
  "MaxOverTime",
  "SumOverTime",
  "CountOverTime",
  "StddevOverTime",
  "StdvarOverTime",
  "LastOverTime",
  "PresentOverTime",
  "QuantileOverTime",
  "AbsentOverTime",
]);
const DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;
const RECORD_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const ALERT_NAME = /^[A-Z][A-Za-z0-9]*$/;

function firstArgument(call: SyntaxNode): SyntaxNode | null {
  const body = call.getChild("FunctionCallBody");
  let arg = body?.firstChild ?? null;
  while (arg && (arg.name === "(" || arg.name === ",")) arg = arg.nextSibling;
  while (arg && arg.name === "ParenExpr") arg = arg.firstChild?.nextSibling ?? null;
  return arg;
}

/**
 * Parses a PromQL expression with Prometheus' own grammar (@prometheus-io/lezer-promql): any
 * syntax error, unknown function, or range function given an instant vector is a problem.
 * Returns the metric names it selects.
 */
export function checkExpr(expr: string): ExprCheck {
  const tree = parser.parse(expr);
  const problems: string[] = [];
  const metrics: string[] = [];
  tree.iterate({
    enter(ref) {
      if (ref.type.isError) {
        problems.push(`syntax error at ${ref.from}: ${JSON.stringify(expr.slice(ref.from, ref.from + 20))}`);
        return;
      }
      if (ref.name === "VectorSelector") {
        const name = ref.node.getChild("Identifier");
        if (name) metrics.push(expr.slice(name.from, name.to));
      }
      if (ref.name === "FunctionCall") {
        const fn = ref.node.getChild("FunctionIdentifier")?.firstChild?.name ?? "";
        const arg = firstArgument(ref.node);
        const position = fn === "PredictLinear" || fn === "QuantileOverTime" ? undefined : arg;
        if (
          RANGE_FUNCTIONS.has(fn) &&
          position &&
          position.name !== "MatrixSelector" &&
          position.name !== "SubqueryExpr"
        ) {
          problems.push(`${fn} needs a range vector, got ${position.name} at ${position.from}`);
        }
      }
    },
  });
  if (expr.trim() === "") problems.push("empty expression");
  return { problems, metrics: [...new Set(metrics)] };
}

/** Reads a rule file's YAML into groups, throwing on a shape Prometheus would refuse. */
export function loadRuleFile(text: string): RuleFile {
  const doc = parseYaml(text) as unknown;
  const groups = (doc as { groups?: unknown })?.groups;
  if (!Array.isArray(groups) || groups.length === 0) throw new Error("a rule file needs a non-empty groups: list");
  for (const g of groups as RuleFile["groups"]) {
    if (typeof g?.name !== "string" || !Array.isArray(g.rules)) throw new Error("each group needs a name and rules");
    for (const r of g.rules) {
      if (typeof r.expr !== "string") throw new Error(`group ${g.name}: a rule without expr`);
      if ((r.record === undefined) === (r.alert === undefined)) {
        throw new Error(`group ${g.name}: a rule must have exactly one of record and alert`);
      }
    }
  }
  return doc as RuleFile;
}

/** A problem of one rule. */
export interface RuleProblem {
  group: string;
  rule: string;
  problem: string;
}

/** Checks every rule: expression, names, `for`/`interval` durations, severity; collects metric names. */
export function checkRuleFile(file: RuleFile): {
  problems: RuleProblem[];
  metrics: Set<string>;
  recorded: Set<string>;
} {
  const problems: RuleProblem[] = [];
  const metrics = new Set<string>();
  const recorded = new Set<string>();
  const groupNames = new Set<string>();
  for (const group of file.groups) {
    const at = (rule: string, problem: string) => problems.push({ group: group.name, rule, problem });
    if (groupNames.has(group.name)) at("", "duplicate group name");
    groupNames.add(group.name);
    if (group.interval !== undefined && !DURATION.test(group.interval)) at("", `bad interval ${group.interval}`);
    for (const rule of group.rules) {
      const name = rule.record ?? rule.alert ?? "";
      const check = checkExpr(rule.expr);
      for (const p of check.problems) at(name, p);
      for (const m of check.metrics) metrics.add(m);
      if (rule.record !== undefined) {
        if (!RECORD_NAME.test(rule.record)) at(name, "record is not a valid metric name");
        recorded.add(rule.record);
      } else {
        if (!ALERT_NAME.test(name)) at(name, "alert names are CamelCase");
        if (!["warning", "critical"].includes(rule.labels?.severity ?? ""))
          at(name, "severity must be warning or critical");
        if (!rule.annotations?.summary) at(name, "an alert needs a summary annotation");
      }
      if (rule.for !== undefined && !DURATION.test(rule.for)) at(name, `bad for: ${rule.for}`);
    }
  }
  return { problems, metrics, recorded };
}
