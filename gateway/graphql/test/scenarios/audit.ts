import { describe, expect, it } from "vitest";
import { codes, dataOf, type GqlResponse, type RunningGateway } from "../support.ts";
import { createProject, type Env, gid, login } from "./env.ts";

const AUDIT = `query Audit($filter: AuditEventFilter, $first: Int) {
  auditEvents(first: $first, filter: $filter) {
    edges { node {
      id sequence action outcome sourceIp
      actor { kind id user { id } }
      target { type id }
    } }
  }
}`;

const VERIFY = `query Verify { verifyAuditChain { ok firstBrokenSequence reason verifiedCount } }`;

interface AuditRecord {
  id: string;
  sequence: number;
  action: string;
  outcome: string;
  sourceIp: string | null;
  actor: { kind: string; id: string; user: { id: string } | null };
  target: { type: string; id: string };
}

const records = (res: GqlResponse): AuditRecord[] =>
  dataOf<{ auditEvents: { edges: Array<{ node: AuditRecord }> } }>(res).auditEvents.edges.map((e) => e.node);

/**
 * The records a filter finds once audit has consumed what `done` waits for. audit records events
 * as it consumes them from NATS, so a record shows up a moment after its action: bounded polling.
 */
async function recorded(
  gw: RunningGateway,
  token: string,
  filter: { [field: string]: string },
  done: (found: AuditRecord[]) => boolean,
): Promise<AuditRecord[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const found = records(await gw.gql(AUDIT, { filter, first: 100 }, token));
    if (done(found)) return found;
    if (Date.now() > deadline)
      throw new Error(`audit never showed ${JSON.stringify(filter)}: ${JSON.stringify(found)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const uuidOf = (globalId: string) => Buffer.from(globalId, "base64").toString("utf8").split(":")[1] ?? "";

/** The tenant's audit log on the graph: admins read their own tenant's, nobody else's. */
export function auditScenarios(env: () => Env): void {
  describe("audit log", () => {
    it("shows a tenant's admins their tenant's records and a sound chain, members nothing, other tenants nothing", async () => {
      const { platform, gw } = env();
      const [seedA, seedB] = await Promise.all([platform.seed.tenant(), platform.seed.tenant()]);
      const [adminA, memberA, adminB] = await Promise.all([
        seedA.user("admin"),
        seedA.user("member"),
        seedB.user("admin"),
      ]);
      const [tokenA, memberToken, tokenB] = await Promise.all([
        login(gw, adminA),
        login(gw, memberA),
        login(gw, adminB),
      ]);
      const project = uuidOf(await createProject(gw, tokenA, "Audited"));

      const created = await recorded(gw, tokenA, { targetId: project }, (found) => found.length > 0);
      expect(created).toHaveLength(1);
      expect(created[0]).toMatchObject({
        action: "project.created",
        outcome: "SUCCESS",
        actor: { kind: "USER", id: adminA.userId, user: { id: gid("User", adminA.userId) } },
        target: { type: "project", id: project },
      });
      const signIns = await recorded(
        gw,
        tokenA,
        { action: "user.login_succeeded", actorId: adminA.userId },
        (found) => found.length > 0,
      );
      expect(signIns[0]).toMatchObject({ target: { type: "user", id: adminA.userId }, sourceIp: "127.0.0.1" });

      // the whole log: newest first, one chain without gaps
      const log = records(await gw.gql(AUDIT, { first: 100 }, tokenA));
      const sequences = log.map((r) => r.sequence);
      expect(sequences).toEqual(Array.from({ length: sequences.length }, (_, i) => (sequences[0] ?? 0) - i));
      expect(log.map((r) => r.action)).toContain("project.created");
      expect(dataOf(await gw.gql(VERIFY, {}, tokenA))).toEqual({
        verifyAuditChain: { ok: true, firstBrokenSequence: null, reason: null, verifiedCount: expect.any(Number) },
      });

      // a member of the same tenant: refused, through the one error mapping
      expect(codes(await gw.gql(AUDIT, {}, memberToken))).toEqual(["FORBIDDEN"]);
      expect(codes(await gw.gql(VERIFY, {}, memberToken))).toEqual(["FORBIDDEN"]);

      // tenant B's admin: their own sign-in shows up, tenant A's records never do
      await recorded(gw, tokenB, { action: "user.login_succeeded" }, (found) =>
        found.some((r) => r.actor.id === adminB.userId),
      );
      const theirs = records(await gw.gql(AUDIT, { first: 100 }, tokenB));
      const actorsOfA = new Set([adminA.userId, memberA.userId]);
      expect(theirs.filter((r) => actorsOfA.has(r.actor.id) || r.target.id === project)).toEqual([]);
      expect(theirs.map((r) => r.id)).not.toContain(created[0]?.id);
      expect(records(await gw.gql(AUDIT, { filter: { targetId: project } }, tokenB))).toEqual([]);
      expect(records(await gw.gql(AUDIT, { filter: { actorId: adminA.userId } }, tokenB))).toEqual([]);
    });

    it("refuses bad filters and cursors with BAD_USER_INPUT naming the argument", async () => {
      const { gw, a } = env();
      const token = a.tokens.owner;
      const backwards = await gw.gql(
        AUDIT,
        { filter: { since: "2030-01-02T00:00:00.000Z", until: "2030-01-01T00:00:00.000Z" } },
        token,
      );
      expect(codes(backwards)).toEqual(["BAD_USER_INPUT"]);
      expect(backwards.body.errors?.[0]?.extensions?.fieldErrors).toEqual([
        { field: "filter.until", message: expect.any(String) },
      ]);
      const action = await gw.gql(AUDIT, { filter: { action: "Not An Action" } }, token);
      expect(codes(action)).toEqual(["BAD_USER_INPUT"]);
      expect(action.body.errors?.[0]?.extensions?.fieldErrors).toEqual([
        { field: "filter.action", message: expect.any(String) },
      ]);
      const cursor = await gw.gql(`{ auditEvents(after: "bm90LWEtY3Vyc29y") { edges { cursor } } }`, {}, token);
      expect(codes(cursor)).toEqual(["BAD_USER_INPUT"]);
    });
  });
}
