/**
 * Tenant security administration through GraphQL against the real platform (identity and tenancy
 * as processes): the MFA policy (step-up for an owner with a second factor), SCIM tokens used
 * against identity's real /scim/v2 endpoint (secret once, rotation overlap, revocation), the group →
 * role mapping and its effect on a provisioned member; members and viewers refused; bad input by field.
 */
import { randomBytes, randomUUID } from "node:crypto";
import {
  registerSecret,
  startPlatform,
  type TenantSeed,
  type TestPlatform,
  type UserSeed,
} from "@tessera/test/harness";
import { Secret, TOTP } from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gid, loginInput } from "./scenarios/env.ts";
import { codes, dataOf, type RunningGateway, startGateway } from "./support.ts";

const RESULT = "__typename ... on Error { code message } ... on ValidationError { fieldErrors { field message } }";
const TOKEN = "scimToken { id prefix state expiresAt revokedAt replacesTokenId }";
const LOGIN = `mutation Login($input: LoginInput!) {
  login(input: $input) {
    __typename
    ... on LoginSuccess { tokens { accessToken } }
    ... on MfaRequired { challenge { challengeToken } }
    ... on Error { code message }
  }
}`;
const NEW_TOKEN = `newScimToken { secret ${TOKEN} previous { id state expiresAt } }`;

type Result = { __typename: string; code?: string; fieldErrors?: Array<{ field: string }>; [k: string]: unknown };
type Token = { id: string; prefix: string; state: string; expiresAt: string | null; revokedAt: string | null };

const totp = (secret: string, steps = 0) =>
  new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: Date.now() + steps * 30_000 });

describe("GraphQL tenant security administration: MFA policy, SCIM tokens, group mapping", () => {
  let platform: TestPlatform;
  let gw: RunningGateway;
  let tenant: TenantSeed;
  let admin: UserSeed;
  let scimBase: string;

  /** Runs `field(input: $input)` and answers its result object. */
  const run = async (token: string | undefined, field: string, inputType: string, input: unknown, select = "") => {
    const query = `mutation($input: ${inputType}!) { ${field}(input: $input) { ${RESULT} ${select} } }`;
    return dataOf<Record<string, Result>>(await gw.gql(query, { input }, token))[field] as Result;
  };
  /** Runs a mutation without arguments. */
  const bare = async (token: string, field: string, select = "") =>
    dataOf<Record<string, Result>>(await gw.gql(`mutation { ${field} { ${RESULT} ${select} } }`, {}, token))[
      field
    ] as Result;
  const scim = (token: string, path = "/Users?count=1") =>
    fetch(`${scimBase}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
  const signIn = async (user: UserSeed) =>
    dataOf<{ login: Result }>(await gw.gql(LOGIN, { input: loginInput(user) })).login as Result & {
      tokens?: { accessToken: string };
    };

  beforeAll(async () => {
    platform = await startPlatform({ services: ["tenancy"] });
    // projects and audit are not needed: the gateway only dials them on use
    gw = await startGateway(platform, { PROJECTS_URL: "http://127.0.0.1:9", AUDIT_URL: "http://127.0.0.1:9" });
    tenant = await platform.seed.tenant();
    admin = await tenant.user("admin");
    scimBase = platform.jwksUrl.replace("/.well-known/jwks.json", "/scim/v2");
  }, 240_000);
  afterAll(async () => {
    await gw?.stop();
    await platform?.stop();
  });

  it("an owner with a second factor sets the MFA policy only after a fresh multi-factor sign-in, and reads it back", async () => {
    const own = await platform.seed.tenant();
    const owner = await own.user("owner");
    const token = (await signIn(owner)).tokens?.accessToken as string;
    const enrolled = dataOf<{ enrollTotp: { enrollment: { secret: string; factor: { id: string } } } }>(
      await gw.gql(
        "mutation { enrollTotp { ... on EnrollTotpSuccess { enrollment { secret factor { id } } } } }",
        {},
        token,
      ),
    ).enrollTotp.enrollment;
    registerSecret(enrolled.secret);
    const confirmed = await run(
      token,
      "confirmTotp",
      "ConfirmTotpInput",
      { factorId: enrolled.factor.id, code: totp(enrolled.secret, -1) },
      "... on ConfirmTotpSuccess { result { recoveryCodes } }",
    );
    for (const c of (confirmed.result as { recoveryCodes: string[] }).recoveryCodes) registerSecret(c);

    const policy = { mode: "ADMINS", gracePeriodDays: 14 };
    const select = "... on SetMfaPolicySuccess { policy { mode gracePeriodDays requiredSince } }";
    expect(await run(token, "setMfaPolicy", "SetMfaPolicyInput", policy, select)).toMatchObject({
      __typename: "StepUpRequiredError",
      code: "STEP_UP_REQUIRED",
    });
    const challenge = (await signIn(owner)).challenge as { challengeToken: string };
    const verified = await run(
      undefined,
      "verifyMfa",
      "VerifyMfaInput",
      {
        challengeToken: challenge.challengeToken,
        totpCode: totp(enrolled.secret),
      },
      "... on VerifyMfaSuccess { tokens { accessToken } }",
    );
    const mfaToken = (verified.tokens as { accessToken: string }).accessToken;

    const set = await run(mfaToken, "setMfaPolicy", "SetMfaPolicyInput", policy, select);
    expect(set).toMatchObject({ __typename: "SetMfaPolicySuccess", policy });
    expect((set.policy as { requiredSince: string | null }).requiredSince).not.toBeNull();
    const read = dataOf<{ viewer: { tenant: { mfaPolicy: unknown } } }>(
      await gw.gql("{ viewer { tenant { mfaPolicy { mode gracePeriodDays } } } }", {}, mfaToken),
    );
    expect(read.viewer.tenant.mfaPolicy).toEqual(policy);

    const tooLong = await run(mfaToken, "setMfaPolicy", "SetMfaPolicyInput", { mode: "EVERYONE", gracePeriodDays: 91 });
    expect(tooLong.__typename).toBe("ValidationError");
    expect(tooLong.fieldErrors?.map((f) => f.field)).toContain("gracePeriodDays");
  });

  it("a SCIM token is shown once, lists Users at identity's /scim/v2, rotates with an overlap and is refused once revoked", async () => {
    const token = await admin.accessToken();
    const created = await bare(token, "createScimToken", `... on CreateScimTokenSuccess { ${NEW_TOKEN} }`);
    const first = created.newScimToken as { secret: string; scimToken: Token };
    registerSecret(first.secret);
    expect(first.secret).toMatch(/^tss_scim_[0-9a-f]{12}_/);
    expect(first.secret).toContain(first.scimToken.prefix);
    expect(first.scimToken).toMatchObject({ state: "ACTIVE", expiresAt: null, revokedAt: null });
    // one current token per tenant
    expect(await bare(token, "createScimToken")).toMatchObject({ __typename: "ConflictError" });

    const listed = await scim(first.secret);
    expect(listed.status).toBe(200);
    const body = (await listed.json()) as { schemas: string[]; totalResults: number };
    expect(body.schemas).toContain("urn:ietf:params:scim:api:messages:2.0:ListResponse");
    expect(typeof body.totalResults).toBe("number");

    const list = await gw.gql("{ scimTokens { id prefix state lastUsedAt } }", {}, token);
    expect(dataOf<{ scimTokens: Token[] }>(list).scimTokens.map((t) => t.id)).toContain(first.scimToken.id);
    expect(JSON.stringify(list.body)).not.toContain(first.secret);

    const rotated = await run(
      token,
      "rotateScimToken",
      "RotateScimTokenInput",
      { id: first.scimToken.id, overlapSeconds: 600 },
      `... on RotateScimTokenSuccess { ${NEW_TOKEN} }`,
    );
    const second = rotated.newScimToken as {
      secret: string;
      scimToken: Token & { replacesTokenId: string };
      previous: Token;
    };
    registerSecret(second.secret);
    expect(second.secret).not.toBe(first.secret);
    expect(second.scimToken).toMatchObject({ state: "ACTIVE", replacesTokenId: first.scimToken.id });
    expect(second.previous).toMatchObject({ id: first.scimToken.id, state: "ROTATED" });
    const end = Date.parse(second.previous.expiresAt as string) - Date.now();
    expect(end).toBeGreaterThan(500_000);
    expect(end).toBeLessThanOrEqual(600_000);
    // the old token works until the new one is first used
    expect((await scim(first.secret)).status).toBe(200);
    expect((await scim(second.secret)).status).toBe(200);
    expect((await scim(first.secret)).status).toBe(401);
    const states = dataOf<{ scimTokens: Token[] }>(await gw.gql("{ scimTokens { id state } }", {}, token)).scimTokens;
    expect(states.find((t) => t.id === first.scimToken.id)?.state).toBe("REVOKED");

    // only the current token rotates; unknown and malformed ids are not found
    const rotate = (id: string, overlapSeconds?: number) =>
      run(token, "rotateScimToken", "RotateScimTokenInput", {
        id,
        ...(overlapSeconds !== undefined && { overlapSeconds }),
      });
    expect(await rotate(first.scimToken.id)).toMatchObject({ __typename: "ConflictError", code: "CONFLICT" });
    expect(await rotate(gid("ScimToken", randomUUID()))).toMatchObject({ __typename: "NotFoundError" });
    expect(await rotate("not-an-id")).toMatchObject({ __typename: "NotFoundError" });
    const overlap = await rotate(second.scimToken.id, -1);
    expect(overlap.fieldErrors?.map((f) => f.field)).toEqual(["overlapSeconds"]);

    const revoked = await run(
      token,
      "revokeScimToken",
      "RevokeScimTokenInput",
      { id: second.scimToken.id },
      "... on RevokeScimTokenSuccess { scimToken { state revokedAt } }",
    );
    expect(revoked.scimToken).toMatchObject({ state: "REVOKED" });
    const refused = await scim(second.secret);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toMatch(/^Bearer/);
    // with no live token left, the tenant may create one again
    const again = await bare(token, "createScimToken", `... on CreateScimTokenSuccess { ${NEW_TOKEN} }`);
    registerSecret((again.newScimToken as { secret: string }).secret);
    expect(again.__typename).toBe("CreateScimTokenSuccess");
    // secrets stay out of the logs of the gateway and of identity
    for (const s of [first.secret, second.secret]) {
      expect(gw.logs.text()).not.toContain(s);
      expect(platform.identity.stdout()).not.toContain(s);
    }
  });

  it("a group mapping gives provisioned members their role at once; only owners map to OWNER", async () => {
    const token = await admin.accessToken();
    const rotated = dataOf<{ scimTokens: Token[] }>(await gw.gql("{ scimTokens { id state } }", {}, token));
    const current = rotated.scimTokens.find((t) => t.state === "ACTIVE");
    const issued = current
      ? await run(
          token,
          "rotateScimToken",
          "RotateScimTokenInput",
          { id: current.id },
          "... on RotateScimTokenSuccess { newScimToken { secret } }",
        )
      : await bare(token, "createScimToken", "... on CreateScimTokenSuccess { newScimToken { secret } }");
    const secret = registerSecret((issued.newScimToken as { secret: string }).secret);
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${scimBase}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${secret}`, "content-type": "application/scim+json" },
        body: JSON.stringify(body),
      });
      expect(res.status, await res.clone().text()).toBe(201);
      return (await res.json()) as { id: string };
    };
    const email = `scim-${randomBytes(4).toString("hex")}@example.com`;
    const user = await post("/Users", {
      schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
      userName: email,
      name: { givenName: "Grace", familyName: "Hopper" },
      emails: [{ value: email, type: "work", primary: true }],
      active: true,
    });
    await post("/Groups", {
      schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"],
      displayName: "Engineering",
      members: [{ value: user.id }],
    });
    const roleOf = async () =>
      dataOf<{ members: { edges: Array<{ node: { role: string; user: { id: string } } }> } }>(
        await gw.gql("{ members(first: 100) { edges { node { role user { id } } } } }", {}, token),
      ).members.edges.find((e) => e.node.user.id === gid("User", user.id))?.node.role;
    expect(await roleOf()).toBe("MEMBER");

    const mapping = [
      { group: "engineering", role: "ADMIN" },
      { group: "Readers", role: "VIEWER" },
    ];
    const select = "... on SetScimGroupMappingSuccess { scimGroupMapping { groupRoles { group role } updatedAt } }";
    const set = await run(token, "setScimGroupMapping", "SetScimGroupMappingInput", { groupRoles: mapping }, select);
    expect(set.scimGroupMapping).toMatchObject({ groupRoles: mapping });
    expect(await roleOf()).toBe("ADMIN");
    const read = dataOf<{ scimGroupMapping: { groupRoles: unknown } }>(
      await gw.gql("{ scimGroupMapping { groupRoles { group role } } }", {}, token),
    );
    expect(read.scimGroupMapping.groupRoles).toEqual(mapping);

    const toOwner = { groupRoles: [{ group: "Engineering", role: "OWNER" }] };
    expect(await run(token, "setScimGroupMapping", "SetScimGroupMappingInput", toOwner)).toMatchObject({
      __typename: "ForbiddenError",
    });
    expect(await roleOf()).toBe("ADMIN");
  });

  it("bad group mappings are refused naming the field, and nothing changes", async () => {
    const token = await admin.accessToken();
    const before = (await gw.gql("{ scimGroupMapping { groupRoles { group role } updatedAt } }", {}, token)).body;
    const one = (group: string) => ({ groupRoles: [{ group, role: "MEMBER" }] });
    // a NUL never reaches a resolver: the gateway refuses the request body itself, naming the variable's path
    const nul = await gw.gql(
      "mutation($input: SetScimGroupMappingInput!) { setScimGroupMapping(input: $input) { __typename } }",
      { input: one("nul\u0000group") },
      token,
    );
    expect(codes(nul)).toEqual(["BAD_USER_INPUT"]);
    expect(nul.body.errors?.[0]?.extensions?.path).toBe("variables.input.groupRoles[0].group");
    for (const [input, field] of [
      [one("g".repeat(257)), "groupRoles[0].group"],
      [one(""), "groupRoles[0].group"],
      [
        {
          groupRoles: [
            { group: "Ops", role: "MEMBER" },
            { group: "OPS", role: "ADMIN" },
          ],
        },
        "groupRoles[1].group",
      ],
      [{ groupRoles: Array.from({ length: 101 }, (_, i) => ({ group: `g${i}`, role: "MEMBER" })) }, "groupRoles"],
    ] as const) {
      const res = await run(token, "setScimGroupMapping", "SetScimGroupMappingInput", input);
      expect(res.__typename, JSON.stringify(res)).toBe("ValidationError");
      expect(res.fieldErrors?.map((f) => f.field)).toContain(field);
    }
    const role = await gw.gql(
      "mutation($input: SetScimGroupMappingInput!) { setScimGroupMapping(input: $input) { __typename } }",
      { input: { groupRoles: [{ group: "Ops", role: "EMPEROR" }] } },
      token,
    );
    expect(codes(role)).toEqual(["BAD_USER_INPUT"]);
    expect(role.body.errors?.[0]?.message).toContain("role");
    expect((await gw.gql("{ scimGroupMapping { groupRoles { group role } updatedAt } }", {}, token)).body).toEqual(
      before,
    );
  });

  it("members and viewers are refused every SCIM and MFA-policy operation with FORBIDDEN", async () => {
    for (const role of ["member", "viewer"] as const) {
      const token = await (await tenant.user(role)).accessToken();
      for (const query of [
        "{ scimTokens { id } }",
        "{ scimGroupMapping { updatedAt } }",
        "{ viewer { tenant { mfaPolicy { mode } } } }",
      ]) {
        expect(codes(await gw.gql(query, {}, token)), `${role} ${query}`).toEqual(["FORBIDDEN"]);
      }
      const forbidden = { __typename: "ForbiddenError", code: "FORBIDDEN" };
      const id = gid("ScimToken", randomUUID());
      expect(await bare(token, "createScimToken"), role).toMatchObject(forbidden);
      for (const [field, type, input] of [
        ["rotateScimToken", "RotateScimTokenInput", { id }],
        ["revokeScimToken", "RevokeScimTokenInput", { id }],
        ["setScimGroupMapping", "SetScimGroupMappingInput", { groupRoles: [{ group: "x", role: "ADMIN" }] }],
        ["setMfaPolicy", "SetMfaPolicyInput", { mode: "OFF", gracePeriodDays: 0 }],
      ] as const) {
        expect(await run(token, field, type, input), `${role} ${field}`).toMatchObject(forbidden);
      }
    }
  });
});
