import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createRegistry, type DescFile, type Registry } from "@bufbuild/protobuf";

function isFile(value: unknown): value is DescFile {
  return typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "file";
}

function generatedModules(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return generatedModules(path);
      return name.endsWith("_pb.ts") ? [path] : [];
    });
}

/** The folder of `@tessera/proto`'s generated code (`proto/gen`). */
export function generatedRoot(): string {
  // every generated file lives under gen/<package path>/; common/v1/event_pb.ts is three levels down
  const eventPb = new URL(import.meta.resolve("@tessera/proto/tessera/common/v1/event_pb"));
  return new URL("../../../", eventPb).pathname;
}

/**
 * A registry of every message type in every file generated into `@tessera/proto`, found by
 * walking the generated folder: the payload of any event, of any service that exists now or is
 * added later, can be unpacked and inspected by reflection without audit knowing its type.
 */
export async function loadPayloadRegistry(root = generatedRoot()): Promise<Registry> {
  const files: DescFile[] = [];
  for (const path of generatedModules(root)) {
    const module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    for (const value of Object.values(module)) if (isFile(value)) files.push(value);
  }
  return createRegistry(...files);
}
