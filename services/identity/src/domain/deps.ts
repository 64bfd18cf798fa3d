import type { TokenVerifier } from "@tessera/platform/auth";
import type { Orm } from "@tessera/platform/db";
import type { Logger } from "@tessera/platform/log";
import type { PlanCatalogue } from "@tessera/platform/plans";
import type { IdentitySettings } from "../config.ts";
import type { KeyStore } from "./keys.ts";
import type { PasswordHasher } from "./passwords.ts";
import type { TokenSigner } from "./tokens.ts";

/** What identity's domain operations work with; built once per process by server.ts. */
export interface IdentityDeps {
  orm: Orm;
  settings: IdentitySettings;
  hasher: PasswordHasher;
  keys: KeyStore;
  signer: TokenSigner;
  /** Verifies user access tokens (aud = the edge audience) presented to ExchangeToken. */
  userTokenVerifier: TokenVerifier;
  logger: Logger;
  /** The plan catalogue seat quotas are read from (the tenant's plan id comes from the tenant projection). */
  plans: PlanCatalogue;
}
