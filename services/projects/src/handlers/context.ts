import { InvalidArgument } from "@tessera/platform/errors";
import type { PageRequest } from "@tessera/proto/tessera/common/v1/page_pb";
import type { PageInput } from "../domain/model.ts";

export type { ProjectsDeps as HandlerDeps } from "../domain/deps.ts";

/** The contract's page request as the domain's. */
export function pageOf(page: PageRequest | undefined): PageInput {
  return { size: page?.pageSize ?? 0, token: page?.pageToken ?? "" };
}

/** The `expected_version` of a request as a number (0: none). */
export function versionOf(expected: bigint): number {
  return Number(expected);
}

/**
 * The update mask's paths, checked against the updatable fields: InvalidArgument on `update_mask`
 * when it names none, or names a field that cannot be updated.
 */
export function maskPaths<const F extends string>(
  paths: readonly string[] | undefined,
  updatable: readonly F[],
): ReadonlySet<F> {
  const given = paths ?? [];
  const unknown = given.filter((p) => !(updatable as readonly string[]).includes(p));
  if (given.length === 0 || unknown.length > 0) {
    throw new InvalidArgument("bad update_mask", [
      {
        field: "update_mask",
        message:
          given.length === 0
            ? `name the fields to change: ${updatable.join(", ")}`
            : `cannot update ${unknown.join(", ")}; updatable: ${updatable.join(", ")}`,
      },
    ]);
  }
  return new Set(given as F[]);
}
