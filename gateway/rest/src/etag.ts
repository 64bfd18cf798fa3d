import { ProblemError } from "./problems.ts";

/**
 * The ETag of a resource at a version: a strong validator, `"v<version>"`. Services bump
 * `version` on every change, and the edge renders one version of a resource the same way every
 * time (within /v1), so the representation is byte-for-byte stable while the version is.
 */
export function etagOf(version: number | bigint): string {
  return `"v${version.toString()}"`;
}

/** The entity tags of an `If-None-Match` / `If-Match` list, `*` as itself; weak prefixes dropped. */
function tagsOf(header: string): string[] {
  const tags: string[] = [];
  for (const match of header.matchAll(/\s*(\*|(?:W\/)?"[^"]*")\s*(?:,|$)/g)) {
    const tag = match[1] as string;
    tags.push(tag.startsWith("W/") ? tag.slice(2) : tag);
  }
  return tags;
}

/**
 * Whether an `If-None-Match` header matches the current ETag (weak comparison, RFC 9110 §13.1.2):
 * then a GET answers 304 Not Modified.
 */
export function noneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return tagsOf(header).some((tag) => tag === "*" || tag === etag);
}

/**
 * The version an `If-Match` header demands, for the service's `expected_version` (0: no
 * condition, including `*` since the resource exists when the service gets that far). A weak or
 * foreign tag can never match a strong one (RFC 9110 §13.1.1), so it fails with 412 at once.
 */
export function expectedVersionOf(header: string | undefined): bigint {
  if (header === undefined || header.trim() === "") return 0n;
  const tags = header.split(",").map((t) => t.trim());
  if (tags.includes("*")) return 0n;
  for (const tag of tags) {
    const m = /^"v(\d{1,18})"$/.exec(tag);
    if (m) return BigInt(m[1] as string);
  }
  throw new ProblemError("precondition-failed", "If-Match does not match the current version of the resource.", [
    { field: "If-Match", message: 'must be the ETag of the resource ("v<version>") or *' },
  ]);
}
