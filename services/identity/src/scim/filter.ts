import { type Filter, parse } from "scim2-parse-filter";
import { badRequest } from "./errors.ts";

/** How one filterable attribute reads in SQL over relation `r`. */
export interface AttrDef {
  /** `ci`: case-insensitive string (caseExact false); `cs`: case-exact string. */
  type: "ci" | "cs" | "boolean" | "date";
  sql: string;
}

/** A multi-valued attribute: `exists (select 1 from <from> where <join> and <condition>)`. */
export interface MultiDef {
  from: string;
  join: string;
  /** Sub-attributes; `value` is what the bare attribute name compares. */
  sub: Record<string, AttrDef>;
}

/** The filterable attributes of one resource type (keys lower-case, sub-attributes dotted). */
export interface FilterSchema {
  /** The core schema URN, accepted as a prefix of attribute paths. */
  urn: string;
  attrs: Record<string, AttrDef>;
  multi: Record<string, MultiDef>;
}

/** A WHERE fragment with its `?` parameters. */
export interface SqlWhere {
  sql: string;
  params: unknown[];
}

const MAX_FILTER_LENGTH = 4096;
const MAX_NODES = 64;

/**
 * Translates a SCIM filter (RFC 7644 §3.4.2.2, parsed by scim2-parse-filter) into SQL over the
 * attributes `schema` declares. Unknown attributes and operators an attribute does not support are
 * `invalidFilter`; values are always bound parameters.
 */
export function filterToSql(filter: string | null, schema: FilterSchema): SqlWhere {
  if (filter === null || filter.trim() === "") return { sql: "true", params: [] };
  if (filter.length > MAX_FILTER_LENGTH) throw badRequest("invalidFilter", "the filter is too long");
  let ast: Filter;
  try {
    ast = parse(filter);
  } catch {
    throw badRequest("invalidFilter", "the filter is not valid SCIM filter syntax");
  }
  const state = { nodes: 0 };
  return translate(ast, schema, state, undefined);
}

function attrName(path: string, schema: FilterSchema): string {
  const lower = path.toLowerCase();
  const urn = `${schema.urn.toLowerCase()}:`;
  if (lower.startsWith(urn)) return lower.slice(urn.length);
  if (lower.startsWith("urn:")) throw badRequest("invalidFilter", `unknown attribute ${path}`);
  return lower;
}

function translate(f: Filter, schema: FilterSchema, state: { nodes: number }, within: MultiDef | undefined): SqlWhere {
  state.nodes += 1;
  if (state.nodes > MAX_NODES) throw badRequest("invalidFilter", "the filter is too complex");
  switch (f.op) {
    case "and":
    case "or": {
      const parts = f.filters.map((x) => translate(x, schema, state, within));
      return { sql: `(${parts.map((p) => p.sql).join(` ${f.op} `)})`, params: parts.flatMap((p) => p.params) };
    }
    case "not": {
      const inner = translate(f.filter, schema, state, within);
      return { sql: `not coalesce(${inner.sql}, false)`, params: inner.params };
    }
    case "[]": {
      if (within) throw badRequest("invalidFilter", "nested value filters are not supported");
      const multi = schema.multi[attrName(f.attrPath, schema)];
      if (!multi) throw badRequest("invalidFilter", `unknown multi-valued attribute ${f.attrPath}`);
      const inner = translate(f.valFilter, schema, state, multi);
      return { sql: `exists (select 1 from ${multi.from} where ${multi.join} and ${inner.sql})`, params: inner.params };
    }
    default: {
      const name = attrName(f.attrPath, schema);
      if (within) {
        const def = within.sub[name];
        if (!def) throw badRequest("invalidFilter", `unknown sub-attribute ${f.attrPath}`);
        return compare(def, f);
      }
      const direct = schema.attrs[name];
      if (direct) return compare(direct, f);
      const [head = "", sub = "value"] = name.split(".", 2);
      const multi = schema.multi[head];
      const def = multi?.sub[sub];
      if (!multi || !def) throw badRequest("invalidFilter", `unknown attribute ${f.attrPath}`);
      const inner = compare(def, f);
      return { sql: `exists (select 1 from ${multi.from} where ${multi.join} and ${inner.sql})`, params: inner.params };
    }
  }
}

function compare(def: AttrDef, f: Exclude<Filter, { op: "and" | "or" | "not" | "[]" }>): SqlWhere {
  const col = def.sql;
  if (f.op === "pr") {
    return { sql: `(${col} is not null and (${col})::text <> '')`, params: [] };
  }
  const value = f.compValue;
  if (value === null) {
    if (f.op === "eq") return { sql: `(${col} is null)`, params: [] };
    if (f.op === "ne") return { sql: `(${col} is not null)`, params: [] };
    throw badRequest("invalidFilter", `${f.attrPath}: null only compares with eq or ne`);
  }
  if (def.type === "boolean") {
    if (typeof value !== "boolean" || (f.op !== "eq" && f.op !== "ne")) {
      throw badRequest("invalidFilter", `${f.attrPath} is boolean: use eq or ne with true or false`);
    }
    return { sql: f.op === "eq" ? `(${col} = ?)` : `(${col} is distinct from ?)`, params: [value] };
  }
  if (typeof value !== "string") throw badRequest("invalidFilter", `${f.attrPath} compares with a string`);
  if (def.type === "date") {
    if (Number.isNaN(Date.parse(value))) throw badRequest("invalidFilter", `${f.attrPath}: not a date-time`);
    const ops: Record<string, string> = { eq: "=", ne: "<>", gt: ">", ge: ">=", lt: "<", le: "<=" };
    const op = ops[f.op];
    if (!op) throw badRequest("invalidFilter", `${f.attrPath} is a date-time: ${f.op} is not supported`);
    // timestamps are stored with microseconds; SCIM clients send what we printed (milliseconds)
    return {
      sql: `(date_trunc('milliseconds', ${col}) ${op} ?::timestamptz)`,
      params: [new Date(value).toISOString()],
    };
  }
  const c = def.type === "ci" ? `lower(${col})` : col;
  const v = def.type === "ci" ? value.toLowerCase() : value;
  switch (f.op) {
    case "eq":
      return { sql: `(${c} = ?)`, params: [v] };
    case "ne":
      return { sql: `(${c} is distinct from ?)`, params: [v] };
    case "co":
      return { sql: `(strpos(${c}, ?) > 0)`, params: [v] };
    case "sw":
      return { sql: `starts_with(${c}, ?)`, params: [v] };
    case "ew":
      return { sql: `(right(${c}, ?::int) = ?)`, params: [v.length, v] };
    case "gt":
      return { sql: `(${c} > ?)`, params: [v] };
    case "ge":
      return { sql: `(${c} >= ?)`, params: [v] };
    case "lt":
      return { sql: `(${c} < ?)`, params: [v] };
    case "le":
      return { sql: `(${c} <= ?)`, params: [v] };
    default:
      throw badRequest("invalidFilter", `unsupported operator ${String((f as { op: string }).op)}`);
  }
}
