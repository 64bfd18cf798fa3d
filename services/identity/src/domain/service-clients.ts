import { withPlatformTransaction } from "@tessera/platform/db";
import { PermissionDenied, Unauthenticated } from "@tessera/platform/errors";
import type { IdentityDeps } from "./deps.ts";
import { pgArray, query, queryOne } from "./sql.ts";
import type { IssuedToken } from "./tokens.ts";

/** A gateway's or service's credential, as seeded. */
export interface ServiceClientSpec {
  id: string;
  secret: string;
  /** Services this client may get tokens for (and, for edges, exchange tokens to). */
  audiences: readonly string[];
  /** Roles its service tokens carry, e.g. `edge` for gateways. */
  roles: readonly string[];
}

interface ClientRow {
  id: string;
  secret_hash: string;
  audiences: string[];
  roles: string[];
}

const INVALID = "invalid client credentials";
const AUDIENCE_CACHE_MS = 10_000;

/** Creates or updates a service client (secret re-hashed, audiences and roles replaced). */
export async function upsertServiceClient(deps: Pick<IdentityDeps, "orm" | "hasher">, spec: ServiceClientSpec) {
  const secretHash = await deps.hasher.hash(spec.secret);
  await withPlatformTransaction(deps.orm, (em) =>
    query(
      em,
      `insert into service_clients (id, secret_hash, audiences, roles) values (?, ?, ?::text[], ?::text[])
       on conflict (id) do update set secret_hash = excluded.secret_hash, audiences = excluded.audiences,
         roles = excluded.roles, updated_at = now(), disabled_at = null`,
      [spec.id, secretHash, pgArray(spec.audiences), pgArray(spec.roles)],
    ),
  );
}

/**
 * Client id + secret → a service token (kind `service`, sub = client id, no tenant) for one of the
 * client's audiences. Unknown client and wrong secret get the same answer after the same work.
 */
export async function issueServiceToken(
  deps: IdentityDeps,
  input: { clientId: string; clientSecret: string; audience: string },
): Promise<IssuedToken> {
  const row = await withPlatformTransaction(deps.orm, (em) =>
    queryOne<ClientRow>(
      em,
      "select id, secret_hash, audiences, roles from service_clients where id = ? and disabled_at is null",
      [input.clientId],
    ),
  );
  if (!row) {
    await deps.hasher.burn(input.clientSecret);
    throw new Unauthenticated(INVALID);
  }
  if (!(await deps.hasher.verify(row.secret_hash, input.clientSecret))) throw new Unauthenticated(INVALID);
  if (!row.audiences.includes(input.audience)) {
    throw new PermissionDenied("this client may not get tokens for that audience", [
      { field: "audience", message: "not among the client's allowed audiences" },
    ]);
  }
  return deps.signer.sign(
    { sub: row.id, kind: "service", roles: row.roles, scopes: [] },
    input.audience,
    deps.settings.serviceTokenTtlMs,
  );
}

/** The audiences a client may reach, cached briefly (checked on every token exchange). */
export function createAudienceCache(deps: Pick<IdentityDeps, "orm">) {
  const cache = new Map<string, { at: number; audiences: readonly string[] }>();
  return async (clientId: string): Promise<readonly string[]> => {
    const hit = cache.get(clientId);
    if (hit && Date.now() - hit.at < AUDIENCE_CACHE_MS) return hit.audiences;
    const row = await withPlatformTransaction(deps.orm, (em) =>
      queryOne<{ audiences: string[] }>(
        em,
        "select audiences from service_clients where id = ? and disabled_at is null",
        [clientId],
      ),
    );
    const audiences = row?.audiences ?? [];
    if (cache.size > 1_000) cache.clear();
    cache.set(clientId, { at: Date.now(), audiences });
    return audiences;
  };
}
