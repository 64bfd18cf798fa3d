import type { MigrationList } from "@tessera/platform/db";
import { InitialSchema } from "./0001-initial.ts";
import { TenantPlan } from "./0002-tenant-plan.ts";
import { Mfa } from "./0003-mfa.ts";
import { Scim } from "./0004-scim.ts";
import { Sso } from "./0005-sso.ts";
import { Webauthn } from "./0006-webauthn.ts";

/** identity's migrations, in the order they apply. */
export const migrations: MigrationList = [
  { name: "0001-initial", class: InitialSchema },
  { name: "0002-tenant-plan", class: TenantPlan },
  { name: "0003-mfa", class: Mfa },
  { name: "0004-scim", class: Scim },
  { name: "0005-sso", class: Sso },
  { name: "0006-webauthn", class: Webauthn },
];
