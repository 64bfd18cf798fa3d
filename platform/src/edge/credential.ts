import { AsyncLocalStorage } from "node:async_hooks";
import { createHash } from "node:crypto";
import { InvalidArgument, Unauthenticated } from "../errors/index.ts";

/** What an end user or partner presented at the edge. */
export type EdgeCredential =
  | { readonly kind: "access_token"; readonly token: string }
  | { readonly kind: "api_key"; readonly key: string };

const API_KEY = /^tsk_(live|test)_[A-Za-z0-9_-]{8,200}$/;
const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/**
 * The credential of an HTTP request: `Authorization: Bearer <access token>` or an API key
 * (`Authorization: Bearer tsk_live_…` or `X-Api-Key: tsk_live_…`). Undefined when none was sent;
 * Unauthenticated when one was sent malformed (so it is never silently ignored); InvalidArgument
 * (naming both headers) when both headers carry one: the caller would be ambiguous, so neither
 * is picked.
 */
export function credentialFromHeaders(
  authorization: string | undefined,
  apiKey: string | undefined,
): EdgeCredential | undefined {
  if (apiKey !== undefined && apiKey !== "" && authorization !== undefined && authorization !== "") {
    throw new InvalidArgument("send one credential: an API key (X-Api-Key) or an Authorization header, not both", [
      { field: "Authorization", message: "not allowed together with X-Api-Key" },
      { field: "X-Api-Key", message: "not allowed together with Authorization" },
    ]);
  }
  if (apiKey !== undefined && apiKey !== "") {
    if (!API_KEY.test(apiKey)) throw new Unauthenticated("malformed API key");
    return { kind: "api_key", key: apiKey };
  }
  if (authorization === undefined || authorization === "") return undefined;
  const value = BEARER.exec(authorization)?.[1];
  if (!value) throw new Unauthenticated("authorization must be a Bearer credential");
  return API_KEY.test(value) ? { kind: "api_key", key: value } : { kind: "access_token", token: value };
}

/** A stable, non-reversible cache key for a credential (the secret itself is never kept as a key). */
export function credentialKey(credential: EdgeCredential): string {
  const secret = credential.kind === "api_key" ? credential.key : credential.token;
  return `${credential.kind}:${createHash("sha256").update(secret).digest("base64url")}`;
}

const storage = new AsyncLocalStorage<EdgeCredential>();

/** Runs fn with the request's credential available to outgoing calls (see exchangeInterceptor). */
export function runWithCredential<T>(credential: EdgeCredential, fn: () => T): T {
  return storage.run(credential, fn);
}

/** The current request's credential, if the edge established one. */
export function currentCredential(): EdgeCredential | undefined {
  return storage.getStore();
}
