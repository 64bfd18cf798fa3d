import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { Passkey } from "@tessera/proto/tessera/identity/v1/webauthn_pb";
import { builder } from "../builder.ts";
import {
  ConflictError,
  ForbiddenError,
  InputError,
  RateLimitedError,
  UnauthenticatedError,
} from "../errors/gateway-errors.ts";
import { AuthTokensRef, tenantOf, tokensOf } from "./auth.ts";
import { DateTime, FACTOR_ERRORS, required, resultTypes, toDate } from "./common.ts";
import { ViewerRef } from "./viewer.ts";

/**
 * Passkeys (WebAuthn) for the viewer, and passwordless sign-in with one. WebAuthn options and
 * credentials travel as JSON strings in WebAuthn Level 3's JSON forms: pass `optionsJson` to
 * `PublicKeyCredential.parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON`, and send back
 * `JSON.stringify(credential.toJSON())`.
 */

const PasskeyRef = builder.objectRef<Passkey>("Passkey").implement({
  description:
    "One of the viewer's passkeys (only its public parts). Also listed in `Viewer.factors` as a WEBAUTHN factor with the same id.",
  fields: (t) => ({
    id: t.exposeID("id"),
    displayName: t.exposeString("displayName"),
    credentialId: t.exposeString("credentialId", { description: "The WebAuthn credential id, base64url." }),
    transports: t.exposeStringList("transports"),
    aaguid: t.exposeString("aaguid", { description: "The authenticator model (all zeros when it does not say)." }),
    backedUp: t.exposeBoolean("backedUp", { description: "A synced, multi-device passkey." }),
    createdAt: t.field({ type: DateTime, resolve: (p) => toDate(p.createTime) }),
    lastUsedAt: t.field({
      type: DateTime,
      nullable: true,
      resolve: (p) => (p.lastUseTime ? toDate(p.lastUseTime) : null),
    }),
  }),
});

const WebauthnOptionsRef = builder.objectRef<{ optionsJson: string; expiresAt: Date }>("WebauthnOptions").implement({
  description: "Options for a WebAuthn ceremony, with a single-use challenge.",
  fields: (t) => ({
    optionsJson: t.exposeString("optionsJson", {
      description:
        "PublicKeyCredentialCreationOptionsJSON (registration) or PublicKeyCredentialRequestOptionsJSON (sign-in), as a JSON string.",
    }),
    expiresAt: t.field({ type: DateTime, resolve: (o) => o.expiresAt }),
  }),
});

const FinishPasskeyRegistrationPayload = builder
  .objectRef<{ passkey: Passkey; recoveryCodes: string[] }>("FinishPasskeyRegistrationPayload")
  .implement({
    fields: (t) => ({
      passkey: t.field({ type: PasskeyRef, resolve: (p) => p.passkey }),
      recoveryCodes: t.exposeStringList("recoveryCodes", {
        description: "Ten single-use codes when this is the first factor (else empty). Shown only here.",
      }),
    }),
  });

const FinishPasskeyRegistrationInput = builder.inputType("FinishPasskeyRegistrationInput", {
  fields: (t) => ({
    credential: t.string({ required: true, description: "JSON of the new credential's `toJSON()`." }),
    displayName: t.string({ required: false, description: 'How the user names it; default "Passkey".' }),
  }),
});

const RenamePasskeyInput = builder.inputType("RenamePasskeyInput", {
  fields: (t) => ({ passkeyId: t.id({ required: true }), displayName: t.string({ required: true }) }),
});

const FinishPasskeyLoginInput = builder.inputType("FinishPasskeyLoginInput", {
  fields: (t) => ({
    credential: t.string({ required: true, description: "JSON of the assertion's `toJSON()`." }),
    tenantSlug: t.string({ required: false, description: "The tenant to sign in to (or tenantId)." }),
    tenantId: t.id({ required: false, description: "The tenant to sign in to, as a Tenant id." }),
  }),
});

const LOGIN_ERRORS = [InputError, UnauthenticatedError, RateLimitedError, ConflictError, ForbiddenError];

/** An options message from identity; its absence is a fault (masked). */
function options(res: { optionsJson: string; expireTime?: Timestamp | undefined }) {
  if (!res.optionsJson || !res.expireTime) throw new Error("identity answered without options");
  return { optionsJson: res.optionsJson, expiresAt: toDate(res.expireTime) };
}

builder.objectFields(ViewerRef, (t) => ({
  passkeys: t.field({
    type: [PasskeyRef],
    description: "The viewer's passkeys, oldest first.",
    resolve: async (_v, _a, ctx) => (await ctx.rpc.passkeys.listPasskeys({})).passkeys,
  }),
}));

builder.mutationFields((t) => ({
  startPasskeyRegistration: t.field({
    type: WebauthnOptionsRef,
    description:
      "Creation options for a new passkey of the viewer (user verification required). Step-up once a factor is active.",
    errors: resultTypes("StartPasskeyRegistration", "options", FACTOR_ERRORS),
    resolve: async (_root, _args, ctx) => options(await ctx.rpc.passkeys.startPasskeyRegistration({})),
  }),
  finishPasskeyRegistration: t.field({
    type: FinishPasskeyRegistrationPayload,
    description: "Registers the new credential (checked against the challenge, RP id and origins). Step-up as above.",
    args: { input: t.arg({ type: FinishPasskeyRegistrationInput, required: true }) },
    errors: resultTypes("FinishPasskeyRegistration", "result", FACTOR_ERRORS),
    resolve: async (_root, { input }, ctx) => {
      const res = await ctx.rpc.passkeys.finishPasskeyRegistration({
        credentialJson: input.credential,
        displayName: input.displayName ?? "",
      });
      return { passkey: required(res.passkey, "a passkey"), recoveryCodes: res.recoveryCodes };
    },
  }),
  renamePasskey: t.field({
    type: PasskeyRef,
    description: "Renames one of the viewer's passkeys (step-up).",
    args: { input: t.arg({ type: RenamePasskeyInput, required: true }) },
    errors: resultTypes("RenamePasskey", "passkey", FACTOR_ERRORS),
    resolve: async (_root, { input }, ctx) =>
      required(
        (await ctx.rpc.passkeys.renamePasskey({ passkeyId: String(input.passkeyId), displayName: input.displayName }))
          .passkey,
        "a passkey",
      ),
  }),
  removePasskey: t.field({
    type: "Boolean",
    description:
      "Removes one of the viewer's passkeys (step-up). Refused while the tenant requires MFA of the viewer and it is the last factor.",
    args: { passkeyId: t.arg.id({ required: true }) },
    errors: resultTypes("RemovePasskey", "ok", FACTOR_ERRORS),
    resolve: async (_root, { passkeyId }, ctx) => {
      await ctx.rpc.passkeys.removePasskey({ passkeyId: String(passkeyId) });
      return true;
    },
  }),
  startPasskeyLogin: t.field({
    type: WebauthnOptionsRef,
    description:
      "Starts a passwordless sign-in: request options for a discoverable passkey (no allowCredentials). Needs no credential.",
    skipTypeScopes: true,
    errors: resultTypes("StartPasskeyLogin", "options", LOGIN_ERRORS),
    resolve: async (_root, _args, ctx) => options(await ctx.rpc.auth.startPasskeyLogin({ client: ctx.clientInfo })),
  }),
  finishPasskeyLogin: t.field({
    type: AuthTokensRef,
    description:
      "Signs in with a passkey's assertion for `startPasskeyLogin`'s options: a session with acr MFA (amr hwk, user). Needs no credential.",
    skipTypeScopes: true,
    args: { input: t.arg({ type: FinishPasskeyLoginInput, required: true }) },
    errors: resultTypes("FinishPasskeyLogin", "tokens", LOGIN_ERRORS),
    resolve: async (_root, { input }, ctx) => {
      const res = await ctx.rpc.auth.finishPasskeyLogin({
        credentialJson: input.credential,
        tenant: tenantOf(input),
        client: ctx.clientInfo,
      });
      return tokensOf(res);
    },
  }),
}));
