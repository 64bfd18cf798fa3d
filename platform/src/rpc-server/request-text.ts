import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { type FieldViolation, InvalidArgument } from "../errors/index.ts";

/** What is wrong with a string PostgreSQL (or any UTF-8 consumer) cannot store as it is, if anything. */
export function textProblem(value: string): string | undefined {
  if (value.includes("\u0000")) return "must not contain NUL (U+0000) characters";
  if (!value.isWellFormed()) return "must be valid Unicode text (it contains a lone surrogate)";
  return undefined;
}

type Plain = Record<string, unknown>;

/**
 * Every string in a message (nested messages, lists, map keys and values, oneofs) that
 * {@link textProblem} refuses, as field violations named by the proto field path
 * (`labels[2]`, `filter.name`, `metadata["key"]`).
 */
export function textViolations(desc: DescMessage, message: unknown, max = 20): FieldViolation[] {
  const out: FieldViolation[] = [];
  walkMessage(desc, message as Plain, "", out, max, 0);
  return out;
}

const MAX_DEPTH = 64;

function walkMessage(
  desc: DescMessage,
  message: Plain,
  path: string,
  out: FieldViolation[],
  max: number,
  depth: number,
) {
  if (depth > MAX_DEPTH || out.length >= max) return;
  for (const member of desc.members) {
    if (member.kind === "oneof") {
      const selected = message[member.localName] as { case?: string; value?: unknown } | undefined;
      const field = member.fields.find((f) => f.localName === selected?.case);
      if (field) walkField(field, selected?.value, path, out, max, depth);
    } else {
      walkField(member, message[member.localName], path, out, max, depth);
    }
  }
}

function check(value: unknown, field: string, out: FieldViolation[]): void {
  if (typeof value !== "string") return;
  const problem = textProblem(value);
  if (problem) out.push({ field, message: problem });
}

function walkValue(field: DescField, value: unknown, name: string, out: FieldViolation[], max: number, depth: number) {
  if (value === undefined || value === null) return;
  if (typeof value === "string") {
    // wrapper types (google.protobuf.StringValue) arrive unboxed
    check(value, name, out);
    return;
  }
  const desc = field.message;
  if (desc && typeof value === "object") walkMessage(desc, value as Plain, name, out, max, depth + 1);
}

function walkField(field: DescField, value: unknown, path: string, out: FieldViolation[], max: number, depth: number) {
  const name = path ? `${path}.${field.name}` : field.name;
  switch (field.fieldKind) {
    case "scalar":
      if (field.scalar === ScalarType.STRING) check(value, name, out);
      return;
    case "message":
      walkValue(field, value, name, out, max, depth);
      return;
    case "list":
      if (!Array.isArray(value)) return;
      value.forEach((item, i) => {
        if (field.listKind === "scalar" && field.scalar === ScalarType.STRING) check(item, `${name}[${i}]`, out);
        else if (field.listKind === "message") walkValue(field, item, `${name}[${i}]`, out, max, depth);
      });
      return;
    case "map":
      if (typeof value !== "object" || value === null) return;
      for (const [key, item] of Object.entries(value as Plain)) {
        const entry = `${name}[${JSON.stringify(key)}]`;
        if (field.mapKey === ScalarType.STRING) check(key, `${name} key`, out);
        if (field.mapKind === "scalar" && field.scalar === ScalarType.STRING) check(item, entry, out);
        else if (field.mapKind === "message") walkValue(field, item, entry, out, max, depth);
      }
      return;
    default:
      return;
  }
}

function refuse(desc: DescMessage, message: unknown): void {
  const violations = textViolations(desc, message);
  if (violations.length > 0) {
    throw new InvalidArgument("the request contains text that cannot be stored: see the field violations", violations);
  }
}

async function* checkedStream<T>(desc: DescMessage, source: AsyncIterable<T>): AsyncGenerator<T> {
  for await (const message of source) {
    refuse(desc, message);
    yield message;
  }
}

/**
 * Refuses (INVALID_ARGUMENT, one field violation per string) any request whose string fields,
 * at any depth, hold NUL or a lone surrogate: PostgreSQL cannot store NUL in text, and a lone
 * surrogate would be stored as U+FFFD, silently altered. One check for every RPC of every
 * service, so no handler or contract can forget it.
 */
export function requestTextInterceptor(): Interceptor {
  return (next) => async (req) => {
    if (req.stream) return next({ ...req, message: checkedStream(req.method.input, req.message) });
    refuse(req.method.input, req.message);
    return next(req);
  };
}
