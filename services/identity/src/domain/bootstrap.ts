import { withPlatformTransaction } from "@tessera/platform/db";
import type { IdentityDeps } from "./deps.ts";
import { PLATFORM_ADMIN } from "./roles.ts";
import { queryOne } from "./sql.ts";
import { insertUser, userByEmail } from "./users.ts";

/**
 * Makes sure a platform admin with this email exists: creates the user with the password, or adds
 * the role to an existing user (whose password is left alone). Returns the user id.
 */
export async function ensurePlatformAdmin(
  deps: Pick<IdentityDeps, "orm" | "hasher">,
  input: { email: string; password: string; displayName?: string },
): Promise<{ userId: string; created: boolean }> {
  const existing = await withPlatformTransaction(deps.orm, (em) => userByEmail(em, input.email));
  if (existing) {
    await withPlatformTransaction(deps.orm, (em) =>
      queryOne(
        em,
        `update users set platform_roles = array_append(platform_roles, ?), updated_at = now()
         where id = ? and not (? = any(platform_roles))`,
        [PLATFORM_ADMIN, existing.id, PLATFORM_ADMIN],
      ),
    );
    return { userId: existing.id, created: false };
  }
  const passwordHash = await deps.hasher.hash(input.password);
  const user = await withPlatformTransaction(deps.orm, (em) =>
    insertUser(em, {
      email: input.email,
      displayName: input.displayName ?? "Platform admin",
      passwordHash,
      platformRoles: [PLATFORM_ADMIN],
    }),
  );
  return { userId: user.id, created: true };
}
