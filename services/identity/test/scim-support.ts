import { ScimService } from "@tessera/proto/tessera/identity/v1/scim_pb";
import { expect } from "vitest";
import type { Identity, SeededTenant } from "./support.ts";

/** An answer of identity's SCIM endpoint. */
export interface ScimAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { Resources?: Array<Record<string, unknown>> };
}

/** A SCIM client of one tenant's token against identity's HTTP port. */
export interface ScimClient {
  base: string;
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<ScimAnswer & { raw: string }>;
  /** Like call, failing the test unless the status is `expected`. */
  ok(
    method: string,
    path: string,
    body?: unknown,
    expected?: number,
    headers?: Record<string, string>,
  ): Promise<ScimAnswer>;
}

/** `…/scim/v2` of a running identity. */
export function scimBase(id: Identity): string {
  return id.built.jwksUrl().replace("/.well-known/jwks.json", "/scim/v2");
}

/** A client sending `token`; a string body is sent as is (for malformed-input tests). */
export function scimClient(id: Identity, token: string): ScimClient {
  const base = scimBase(id);
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined && { "content-type": "application/scim+json" }),
        ...headers,
      },
      ...(body !== undefined && {
        body: typeof body === "string" ? body : body instanceof Uint8Array ? Buffer.from(body) : JSON.stringify(body),
      }),
    });
    const raw = await res.text();
    return { status: res.status, headers: res.headers, raw, body: raw ? JSON.parse(raw) : {} };
  };
  return {
    base,
    call,
    async ok(method, path, body, expected = 200, headers = {}) {
      const answer = await call(method, path, body, headers);
      expect(answer.status, `${method} ${path}: ${answer.raw}`).toBe(expected);
      return answer;
    },
  };
}

/** A fresh SCIM token for the tenant, created by its owner. */
export async function scimTokenFor(id: Identity, tenant: SeededTenant): Promise<{ secret: string; tokenId: string }> {
  const created = await id.client(ScimService, tenant.owner.token).createScimToken({});
  return { secret: created.secret, tokenId: created.token?.id ?? "" };
}

/** A SCIM User body. */
export function userBody(userName: string, extra: Record<string, unknown> = {}) {
  return {
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
    userName,
    name: { givenName: "Ada", familyName: "Lovelace" },
    emails: [{ value: userName, type: "work", primary: true }],
    active: true,
    ...extra,
  };
}

/** A PatchOp body. */
export const patchOp = (...Operations: unknown[]) => ({
  schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  Operations,
});

export { ScimService };
