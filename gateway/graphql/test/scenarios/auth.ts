import { describe, expect, it } from "vitest";
import { codes, dataOf } from "../support.ts";
import { type Env, gid, LOGIN, loginInput } from "./env.ts";

const VIEWER = `query Me {
  viewer {
    user { id displayName email }
    memberships { role tenantId tenant { slug } }
    tenant { id slug status plan }
  }
}`;

const REFRESH = `mutation R($t: String!) {
  refresh(input: { refreshToken: $t }) {
    __typename
    ... on RefreshSuccess { tokens { accessToken refreshToken } }
    ... on Error { code message }
  }
}`;

/** Sign-in, the viewer, and what happens without (or with a bad) credential. */
export function authScenarios(env: () => Env): void {
  describe("sign-in and the viewer", () => {
    it("signs in with the login mutation and shows the viewer, their memberships and tenant", async () => {
      const { gw, a } = env();
      const res = await gw.gql(VIEWER, {}, a.tokens.owner);
      const { viewer } = dataOf<{ viewer: Record<string, unknown> }>(res);
      expect(viewer.user).toMatchObject({ id: gid("User", a.users.owner.userId), email: a.users.owner.email });
      expect(viewer.memberships).toEqual([
        { role: "OWNER", tenantId: gid("Tenant", a.tenant.id), tenant: { slug: a.tenant.slug } },
      ]);
      expect(viewer.tenant).toEqual({
        id: gid("Tenant", a.tenant.id),
        slug: a.tenant.slug,
        status: "ACTIVE",
        plan: "team",
      });
    });

    it("signs in by tenant slug too, once identity has heard of the tenant", async () => {
      const { gw, a } = env();
      // a user of its own: attempts before identity knows the slug count as failures of the account
      const user = await a.tenant.user("member");
      const input = { email: user.email, password: user.password, tenantSlug: a.tenant.slug };
      let typename = "";
      // identity learns slugs from tenancy's events: wait for that, not for a fixed time
      for (let i = 0; i < 50 && typename !== "LoginSuccess"; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100));
        typename = dataOf<{ login: { __typename: string } }>(await gw.gql(LOGIN, { input })).login.__typename;
      }
      expect(typename).toBe("LoginSuccess");
    });

    it("answers a wrong password and an unknown email with the same typed AuthenticationError", async () => {
      const { gw, a } = env();
      const wrong = await gw.gql(LOGIN, { input: loginInput(a.users.member, "not-the-password") });
      const unknown = await gw.gql(LOGIN, {
        input: { ...loginInput(a.users.member, "not-the-password"), email: `nobody-${Date.now()}@example.com` },
      });
      expect(wrong.body).toEqual({
        data: {
          login: { __typename: "AuthenticationError", code: "UNAUTHENTICATED", message: "Authentication required." },
        },
      });
      expect(unknown.body).toEqual(wrong.body);
    });

    it("refreshes a session once: the spent refresh token is refused, and logout ends the new one", async () => {
      const { gw, a } = env();
      const signed = dataOf<{ login: { tokens: { refreshToken: string } } }>(
        await gw.gql(LOGIN, { input: loginInput(a.users.viewer) }),
      ).login.tokens;
      const first = dataOf<{ refresh: { __typename: string; tokens: { refreshToken: string } } }>(
        await gw.gql(REFRESH, { t: signed.refreshToken }),
      ).refresh;
      expect(first.__typename).toBe("RefreshSuccess");
      const again = dataOf<{ refresh: { __typename: string } }>(await gw.gql(REFRESH, { t: signed.refreshToken }));
      expect(again.refresh.__typename).toBe("AuthenticationError");
      const logout = await gw.gql(
        `mutation($t: String!) { logout(input: { refreshToken: $t }) { __typename ... on LogoutSuccess { ok } } }`,
        { t: first.tokens.refreshToken },
      );
      expect(dataOf(logout)).toEqual({ logout: { __typename: "LogoutSuccess", ok: true } });
      const afterLogout = dataOf<{ refresh: { __typename: string } }>(
        await gw.gql(REFRESH, { t: first.tokens.refreshToken }),
      );
      expect(afterLogout.refresh.__typename).toBe("AuthenticationError");
    });

    it("refuses everything but sign-in without a credential, before calling any service", async () => {
      const { gw, counter } = env();
      const { calls, result } = await counter.during(() => gw.gql(VIEWER));
      expect(result.body).toEqual({
        errors: [{ message: "Authentication required.", extensions: { code: "UNAUTHENTICATED" } }],
      });
      expect(calls).toEqual([]);
    });

    it("refuses malformed and unknown credentials with UNAUTHENTICATED, never a crash", async () => {
      const { gw } = env();
      const basic = await gw.gql(VIEWER, {}, undefined, { authorization: "Basic dXNlcjpwYXNz" });
      const forged = await gw.gql(VIEWER, {}, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.");
      const badKey = await gw.gql(VIEWER, {}, undefined, { "x-api-key": "tsk_live_notarealkeyatall" });
      for (const res of [basic, forged, badKey]) {
        expect(res.status).toBe(200);
        expect(codes(res)).toEqual(["UNAUTHENTICATED"]);
      }
    });

    it("accepts an API key (X-Api-Key) within its scopes", async () => {
      const { gw, a } = env();
      const key = await a.tenant.apiKey("viewer", ["projects.read", "tasks.read", "comments.read"]);
      const res = await gw.gql(`{ projects(first: 1) { edges { node { id } } } }`, {}, undefined, {
        "x-api-key": key.key,
      });
      expect(res.body.errors).toBeUndefined();
      const write = await gw.gql(
        `mutation { createProject(input: { name: "K", key: "KEYX" }) { __typename ... on Error { code } } }`,
        {},
        undefined,
        { "x-api-key": key.key },
      );
      expect(dataOf(write)).toEqual({ createProject: { __typename: "ForbiddenError", code: "FORBIDDEN" } });
    });
  });
}
