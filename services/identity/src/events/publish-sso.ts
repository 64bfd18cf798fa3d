import { create } from "@bufbuild/protobuf";
import type { TxEntityManager } from "@tessera/platform/db";
import { enqueueEvent } from "@tessera/platform/events";
import {
  SsoConnectionEventSchema,
  SsoFailureReason,
  SsoLoginEventSchema,
} from "@tessera/proto/tessera/identity/v1/sso_pb";
import type { ClientSeen } from "./publish.ts";

/**
 * Events of single sign-on, enqueued in the transaction of what they report, under its tenant (the
 * platform tenant when a callback cannot be tied to one). Payloads never carry a token, a code, a
 * secret, an email address or a claim value.
 */

export { SsoFailureReason };

/** `sso_connection.created`, `.updated` or `.deleted`, by the admin in the context. */
export function ssoConnectionChanged(
  em: TxEntityManager,
  verb: "created" | "updated" | "deleted",
  tenantId: string,
  c: {
    issuer: string;
    clientId: string;
    enabled: boolean;
    ssoRequired: boolean;
    secretChanged: boolean;
    breakGlassUserIds: readonly string[];
  },
) {
  return enqueueEvent(em, {
    type: `sso_connection.${verb}`,
    aggregateId: tenantId,
    tenantId,
    schema: SsoConnectionEventSchema,
    payload: create(SsoConnectionEventSchema, {
      issuer: c.issuer,
      clientId: c.clientId,
      enabled: c.enabled,
      ssoRequired: c.ssoRequired,
      clientSecretChanged: c.secretChanged,
      breakGlassUserIds: [...c.breakGlassUserIds],
    }),
  });
}

/** What an SSO login event says beyond its type. */
export interface SsoLoginFields {
  tenantId: string;
  userId?: string | undefined;
  reason?: SsoFailureReason;
  detail?: string;
  idpAmr?: readonly string[];
  memberCreated?: boolean;
  client: ClientSeen;
}

/** `sso.login_succeeded`, `sso.login_failed` or `sso.break_glass_login` (a password login while SSO is required). */
export function ssoLoginEvent(
  em: TxEntityManager,
  verb: "login_succeeded" | "login_failed" | "break_glass_login",
  f: SsoLoginFields,
) {
  return enqueueEvent(em, {
    type: `sso.${verb}`,
    aggregateId: f.userId ?? f.client.ip,
    tenantId: f.tenantId,
    ...(f.userId && { actor: { kind: "user" as const, id: f.userId } }),
    outcome: verb === "login_failed" ? "failure" : "success",
    origin: { clientIp: f.client.ip, userAgent: f.client.userAgent },
    schema: SsoLoginEventSchema,
    payload: create(SsoLoginEventSchema, {
      userId: f.userId ?? "",
      reason: f.reason ?? SsoFailureReason.UNSPECIFIED,
      detail: f.detail ?? "",
      clientIp: f.client.ip,
      userAgent: f.client.userAgent,
      idpAmr: [...(f.idpAmr ?? [])],
      memberCreated: f.memberCreated ?? false,
    }),
  });
}
