import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { jetstream } from "@nats-io/jetstream";
import { buildEnvelope, encodeEnvelope, eventSubject } from "@tessera/platform/events";
import { TenantEventSchema, TenantStatus } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ApiKeyService,
  CLIENT,
  codeOf,
  type Identity,
  Role,
  type SeededTenant,
  startIdentity,
  TokenType,
} from "./support.ts";

describe("identity refuses a suspended tenant's users and keys (tenant.* events from tenancy)", () => {
  let id: Identity;
  let tenant: SeededTenant;
  let other: SeededTenant;

  beforeAll(async () => {
    id = await startIdentity("status");
    [tenant, other] = [await id.seedTenant(), await id.seedTenant()];
  }, 60_000);
  afterAll(async () => id?.stop());

  /** Publishes a tenant event to JetStream exactly as tenancy's outbox relay would. */
  async function publishTenantEvent(tenantId: string, slug: string, verb: string, status: TenantStatus) {
    const envelope = buildEnvelope({
      type: `tenant.${verb}`,
      aggregateId: tenantId,
      tenantId,
      actor: { kind: "service", id: "tenancy" },
      schema: TenantEventSchema,
      payload: create(TenantEventSchema, { tenant: { id: tenantId, slug, status } }),
    });
    await jetstream(id.nats).publish(eventSubject(tenantId, envelope.type), encodeEnvelope(envelope), {
      msgID: envelope.id,
    });
  }

  /** Polls until the projection shows the status (the consumer is asynchronous by nature). */
  async function untilLogin(expected: "refused" | "allowed") {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const code = await codeOf(
        (await id.auth()).login({ email: tenant.owner.email, password: tenant.owner.password, client: CLIENT }),
      ).catch(() => undefined);
      const refused = code === Code.PermissionDenied;
      if ((expected === "refused") === refused) return;
      if (Date.now() > deadline) expect.fail(`login still ${refused ? "refused" : "allowed"}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it("after tenant.suspended: login, refresh and exchange (user token and API key) are refused; tenant.resumed lifts it", async () => {
    const auth = await id.auth();
    const session = await auth.login({ email: tenant.owner.email, password: tenant.owner.password, client: CLIENT });
    const key = await id
      .client(ApiKeyService, tenant.owner.token)
      .createApiKey({ displayName: "k", role: Role.VIEWER, scopes: ["project.read"] });
    const slug = `acme-${randomUUID().slice(0, 8)}`;

    await publishTenantEvent(tenant.tenantId, slug, "suspended", TenantStatus.SUSPENDED);
    await untilLogin("refused");
    expect(await codeOf(auth.refresh({ refreshToken: session.tokens?.refreshToken ?? "", client: CLIENT }))).toBe(
      Code.PermissionDenied,
    );
    for (const [subjectToken, subjectTokenType] of [
      [session.tokens?.accessToken ?? "", TokenType.ACCESS_TOKEN],
      [key.secret, TokenType.API_KEY],
    ] as const) {
      expect(await codeOf(auth.exchangeToken({ subjectToken, subjectTokenType, audience: "projects" }))).toBe(
        Code.PermissionDenied,
      );
    }
    // another tenant is unaffected
    const ok = await auth.login({ email: other.owner.email, password: other.owner.password, client: CLIENT });
    expect(ok.tokens?.tenantId).toBe(other.tenantId);

    await publishTenantEvent(tenant.tenantId, slug, "resumed", TenantStatus.ACTIVE);
    await untilLogin("allowed");
    // the projection also knows the slug now
    const bySlug = await auth.login({
      email: tenant.owner.email,
      password: tenant.owner.password,
      tenant: { case: "tenantSlug", value: slug },
      client: CLIENT,
    });
    expect(bySlug.tokens?.tenantId).toBe(tenant.tenantId);
    expect(
      (
        await auth.exchangeToken({
          subjectToken: key.secret,
          subjectTokenType: TokenType.API_KEY,
          audience: "projects",
        })
      ).accessToken,
    ).not.toBe("");
  });
});
