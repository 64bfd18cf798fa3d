import type { TxEntityManager } from "@tessera/platform/db";

/**
 * Revokes every refresh token (so every session) of a user into one tenant, in `em`'s transaction.
 * Access tokens already issued cannot be recalled, but ExchangeToken reads the membership at once,
 * so they stop working at the edges as soon as the membership is gone.
 */
export async function revokeTenantSessions(em: TxEntityManager, tenantId: string, userId: string): Promise<number> {
  const res = await em.execute(
    "update refresh_tokens set revoked_at = now() where user_id = ? and tenant_id = ? and revoked_at is null",
    [userId, tenantId],
    "run",
  );
  return Number((res as { affectedRows?: number }).affectedRows ?? 0);
}
