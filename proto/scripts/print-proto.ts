/**
 * Prints a FileDescriptorProto back to .proto source: just enough structure (messages, enums,
 * fields, oneofs, extension ranges, extensions) for buf to compile files that import it.
 * Field options (e.g. protovalidate's predefined CEL rules) are deliberately dropped: the
 * generated code imports the runtime copy of the descriptor, not this printed one.
 */
import { isFieldSet } from "@bufbuild/protobuf";
import {
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  FieldDescriptorProtoSchema,
  type FileDescriptorProto,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
} from "@bufbuild/protobuf/wkt";

const scalar: Partial<Record<Type, string>> = {
  [Type.DOUBLE]: "double",
  [Type.FLOAT]: "float",
  [Type.INT64]: "int64",
  [Type.UINT64]: "uint64",
  [Type.INT32]: "int32",
  [Type.FIXED64]: "fixed64",
  [Type.FIXED32]: "fixed32",
  [Type.BOOL]: "bool",
  [Type.STRING]: "string",
  [Type.BYTES]: "bytes",
  [Type.UINT32]: "uint32",
  [Type.SFIXED32]: "sfixed32",
  [Type.SFIXED64]: "sfixed64",
  [Type.SINT32]: "sint32",
  [Type.SINT64]: "sint64",
};

function typeName(f: FieldDescriptorProto): string {
  const s = scalar[f.type];
  if (s !== undefined) return s;
  if (f.type === Type.MESSAGE || f.type === Type.ENUM) return f.typeName;
  throw new Error(`unsupported field type ${f.type} on ${f.name}`);
}

function field(f: FieldDescriptorProto, indent: string, inOneof: boolean): string {
  const label = inOneof
    ? ""
    : f.label === Label.REPEATED
      ? "repeated "
      : f.label === Label.REQUIRED
        ? "required "
        : "optional ";
  return `${indent}${label}${typeName(f)} ${f.name} = ${f.number};`;
}

function printEnum(e: EnumDescriptorProto, indent: string): string[] {
  return [`${indent}enum ${e.name} {`, ...e.value.map((v) => `${indent}  ${v.name} = ${v.number};`), `${indent}}`];
}

function printMessage(m: DescriptorProto, indent: string): string[] {
  const inner = `${indent}  `;
  const out = [`${indent}message ${m.name} {`];
  for (const e of m.enumType) out.push(...printEnum(e, inner));
  for (const n of m.nestedType) out.push(...printMessage(n, inner));
  const oneofFields = new Map<number, FieldDescriptorProto[]>();
  for (const f of m.field) {
    if (isRealOneof(f)) {
      const list = oneofFields.get(f.oneofIndex) ?? [];
      list.push(f);
      oneofFields.set(f.oneofIndex, list);
    } else {
      out.push(field(f, inner, false));
    }
  }
  for (const [index, fields] of oneofFields) {
    out.push(`${inner}oneof ${m.oneofDecl[index]?.name} {`);
    for (const f of fields) out.push(field(f, `${inner}  `, true));
    out.push(`${inner}}`);
  }
  for (const r of m.extensionRange) {
    const end = r.end >= 536870912 ? "max" : String(r.end - 1);
    out.push(`${inner}extensions ${r.start} to ${end};`);
  }
  for (const r of m.reservedRange) out.push(`${inner}reserved ${r.start} to ${r.end - 1};`);
  out.push(`${indent}}`);
  return out;
}

function isRealOneof(f: FieldDescriptorProto): boolean {
  return isFieldSet(f, FieldDescriptorProtoSchema.field.oneofIndex) && !f.proto3Optional;
}

export function printProto(file: FileDescriptorProto): string {
  const out = [
    "// Printed by proto/scripts/print-proto.ts from the descriptor embedded in its npm package. Do not edit.",
    'syntax = "proto2";',
    "",
    `package ${file.package};`,
    "",
    ...file.dependency.map((d) => `import "${d}";`),
    "",
  ];
  for (const e of file.enumType) out.push(...printEnum(e, ""));
  for (const m of file.messageType) out.push(...printMessage(m, ""));
  const byExtendee = new Map<string, FieldDescriptorProto[]>();
  for (const x of file.extension) byExtendee.set(x.extendee, [...(byExtendee.get(x.extendee) ?? []), x]);
  for (const [extendee, fields] of byExtendee) {
    out.push(`extend ${extendee} {`, ...fields.map((f) => field(f, "  ", false)), "}");
  }
  return `${out.join("\n")}\n`;
}
