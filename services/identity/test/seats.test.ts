import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { jetstream } from "@nats-io/jetstream";
import { buildEnvelope, encodeEnvelope, eventSubject } from "@tessera/platform/events";
import { getPlan } from "@tessera/platform/plans";
import { QuotaFailureSchema } from "@tessera/proto/google/rpc/error_details_pb";
import { InvitationState } from "@tessera/proto/tessera/identity/v1/resources_pb";
import { TenantEventSchema, TenantStatus } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  errorOf,
  type Identity,
  MembershipService,
  newPassword,
  Role,
  type SeededTenant,
  startIdentity,
  uniqueEmail,
} from "./support.ts";

describe("seats: a tenant's memberships stay within its plan's seat quota", () => {
  let id: Identity;
  let tenant: SeededTenant;
  let other: SeededTenant;
  const seats = getPlan("free").quotas.seats;

  beforeAll(async () => {
    id = await startIdentity("seats");
    [tenant, other] = [await id.seedTenant(), await id.seedTenant()];
  }, 60_000);
  afterAll(async () => id?.stop());

  /** Publishes a tenant event to JetStream as tenancy's outbox relay would, and waits until it is projected. */
  async function putOnPlan(t: SeededTenant, plan: string, verb = "plan_changed") {
    const envelope = buildEnvelope({
      type: `tenant.${verb}`,
      aggregateId: t.tenantId,
      tenantId: t.tenantId,
      actor: { kind: "service", id: "tenancy" },
      schema: TenantEventSchema,
      payload: create(TenantEventSchema, {
        tenant: { id: t.tenantId, slug: `s-${t.tenantId.slice(0, 8)}`, status: TenantStatus.ACTIVE, plan },
      }),
    });
    await jetstream(id.nats).publish(eventSubject(t.tenantId, envelope.type), encodeEnvelope(envelope), {
      msgID: envelope.id,
    });
    const deadline = Date.now() + 15_000;
    for (;;) {
      const client = new pg.Client({ connectionString: id.db.adminUrl });
      await client.connect();
      const { rows } = await client
        .query<{ plan: string | null }>("select plan from tenants where id = $1", [t.tenantId])
        .finally(() => client.end());
      if (rows[0]?.plan === plan) return;
      if (Date.now() > deadline) expect.fail(`the projection never got plan ${plan}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const invite = (t: SeededTenant, email = uniqueEmail("seat")) =>
    id.client(MembershipService, t.owner.token).createInvitation({ email, role: Role.MEMBER });

  async function accept(token: string) {
    const members = id.client(MembershipService, await id.edgeToken());
    return members.acceptInvitation({ token, password: newPassword(), displayName: "seat" });
  }

  function expectSeatsExceeded(err: Awaited<ReturnType<typeof errorOf>>, limit: number) {
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toBe(`quota exceeded: seats (limit ${limit} on plan free)`);
    expect(err.findDetails(QuotaFailureSchema)[0]?.violations[0]).toMatchObject({
      quotaMetric: "seats",
      quotaValue: BigInt(limit),
    });
  }

  it("refuses the invitation and the acceptance past the free plan's seats with RESOURCE_EXHAUSTED naming `seats` and the limit", async () => {
    await putOnPlan(tenant, "free", "created");
    // the owner holds one seat; invitations issued while seats were free may outnumber them
    const pending = [];
    for (let i = 1; i < seats + 1; i++) pending.push(await invite(tenant));
    for (const inv of pending.slice(0, seats - 1)) await accept(inv.token);
    const last = pending.at(-1);
    expectSeatsExceeded(await errorOf(accept(last?.token ?? "")), seats);
    expectSeatsExceeded(await errorOf(invite(tenant)), seats);
    const members = await id.client(MembershipService, tenant.owner.token).listMembers({});
    expect(members.members).toHaveLength(seats);
    // nothing was added for the refused acceptance: the invitation is still pending
    const invitations = await id.client(MembershipService, tenant.owner.token).listInvitations({});
    expect(invitations.invitations.find((i) => i.id === last?.invitation?.id)?.state).toBe(InvitationState.PENDING);

    // another tenant's seats are its own (its plan is unknown to identity yet: not limited meanwhile)
    await accept((await invite(other)).token);

    // removing a member frees a seat; moving to a bigger plan adds seats at once
    const someone = members.members.find((m) => m.role === Role.MEMBER);
    await id.client(MembershipService, tenant.owner.token).removeMember({ userId: someone?.userId ?? "" });
    await accept(last?.token ?? "");
    await putOnPlan(tenant, "team");
    await accept((await invite(tenant)).token);
  });

  it("counts concurrent acceptances one after the other: never more members than seats", async () => {
    const t = await id.seedTenant();
    await putOnPlan(t, "free", "created");
    const invitations = [];
    for (let i = 0; i < seats + 2; i++) invitations.push(await invite(t));
    const results = await Promise.allSettled(invitations.map((inv) => accept(inv.token)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(seats - 1);
    const members = await id.client(MembershipService, t.owner.token).listMembers({});
    expect(members.members).toHaveLength(seats);
  });
});
