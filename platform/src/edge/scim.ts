import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import type { RotateScimTokenResponse, ScimService, ScimToken } from "@tessera/proto/tessera/identity/v1/scim_pb";
import { FailedPrecondition, NotFound } from "../errors/index.ts";

/**
 * Where a SCIM token stands: the tenant's current token (`active`), a rotated-out one still valid
 * until its successor is first used or its overlap ends (`rotated`), or unusable.
 */
export type ScimTokenState = "active" | "rotated" | "expired" | "revoked";

/** The state of one of identity's SCIM tokens at `now`. */
export function scimTokenState(token: ScimToken, now = Date.now()): ScimTokenState {
  if (token.revokeTime) return "revoked";
  if (!token.expireTime) return "active";
  return timestampDate(token.expireTime).getTime() > now ? "rotated" : "expired";
}

/**
 * Rotates the tenant's SCIM token named by `tokenId`. identity's RotateScimToken rotates whichever
 * token is current; the edges name the token so that a client acting on a stale list does not
 * rotate another one: an id that is not among the caller's tenant's tokens (another tenant's, or
 * none) is NotFound like any unknown id, one that is no longer current FailedPrecondition.
 */
export async function rotateScimTokenById(
  scim: Pick<Client<typeof ScimService>, "listScimTokens" | "rotateScimToken">,
  tokenId: string,
  overlapSeconds = 0,
): Promise<RotateScimTokenResponse> {
  const id = tokenId.toLowerCase();
  const token = (await scim.listScimTokens({})).tokens.find((t) => t.id.toLowerCase() === id);
  if (!token) throw new NotFound("SCIM token not found");
  if (scimTokenState(token) !== "active") {
    throw new FailedPrecondition(
      "only the tenant's current SCIM token can be rotated (this one was rotated or revoked)",
    );
  }
  return scim.rotateScimToken({ overlapSeconds });
}

/** The longest group name identity keeps in a mapping. */
export const SCIM_GROUP_MAX_LENGTH = 256;
/** The most entries a group → role mapping may have. */
export const SCIM_MAPPING_MAX_ENTRIES = 100;

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** One thing wrong with a group → role mapping: at `index` (its `group`), or the list as a whole. */
export interface ScimMappingProblem {
  readonly index: number | undefined;
  readonly message: string;
}

/**
 * What is wrong with the groups of a group → role mapping, checked by both edges before identity
 * stores it: too many entries, a group name empty, longer than {@link SCIM_GROUP_MAX_LENGTH} or
 * with control characters (NUL included), or a group named twice (displayNames compare
 * case-insensitively, so `Admins` and `admins` are the same group). Each surface names the field
 * its own way (`group_roles[1].group`, `groupRoles[1].group`).
 */
export function scimGroupProblems(groups: readonly string[]): ScimMappingProblem[] {
  const out: ScimMappingProblem[] = [];
  if (groups.length > SCIM_MAPPING_MAX_ENTRIES) {
    out.push({ index: undefined, message: `at most ${SCIM_MAPPING_MAX_ENTRIES} groups` });
  }
  const seen = new Set<string>();
  groups.forEach((group, index) => {
    const problem = (message: string) => out.push({ index, message });
    if (group.trim().length === 0) problem("must not be empty");
    else if (group.length > SCIM_GROUP_MAX_LENGTH) problem(`at most ${SCIM_GROUP_MAX_LENGTH} characters`);
    else if (CONTROL.test(group)) problem("must not contain control characters");
    else if (seen.has(group.toLowerCase())) problem("names a group already mapped");
    seen.add(group.toLowerCase());
  });
  return out;
}
