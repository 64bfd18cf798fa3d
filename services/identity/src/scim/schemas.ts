/** SCIM discovery documents (RFC 7643 §5–7): what this service provider supports, nothing more. */

export const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
export const GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group";
export const LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
export const PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/** Attributes of this extension are accepted and dropped: IdPs send them by default. */
export const ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

const SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RT_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/** Most resources one list answer holds (`count` above it is lowered to it). */
export const MAX_RESULTS = 200;

type Mutability = "readOnly" | "readWrite" | "immutable" | "writeOnly";

function attr(
  name: string,
  type: "string" | "boolean" | "complex" | "reference" | "dateTime",
  options: {
    description: string;
    required?: boolean;
    multiValued?: boolean;
    mutability?: Mutability;
    uniqueness?: "none" | "server";
    caseExact?: boolean;
    subAttributes?: Record<string, unknown>[];
    referenceTypes?: string[];
    canonicalValues?: string[];
  },
): Record<string, unknown> {
  return {
    name,
    type,
    multiValued: options.multiValued ?? false,
    description: options.description,
    required: options.required ?? false,
    caseExact: options.caseExact ?? false,
    mutability: options.mutability ?? "readWrite",
    returned: "default",
    uniqueness: options.uniqueness ?? "none",
    ...(options.canonicalValues && { canonicalValues: options.canonicalValues }),
    ...(options.subAttributes && { subAttributes: options.subAttributes }),
    ...(options.referenceTypes && { referenceTypes: options.referenceTypes }),
  };
}

const USER_ATTRIBUTES = [
  attr("userName", "string", {
    description: "The user's email address: users are identified by it across Tessera.",
    required: true,
    uniqueness: "server",
  }),
  attr("name", "complex", {
    description: "The user's name, as this tenant's directory knows it.",
    subAttributes: [
      attr("formatted", "string", { description: "The full name." }),
      attr("familyName", "string", { description: "The family name." }),
      attr("givenName", "string", { description: "The given name." }),
    ],
  }),
  attr("displayName", "string", { description: "The name shown for the user in this tenant." }),
  attr("emails", "complex", {
    description: "Email addresses as the directory gives them (sign-in uses userName).",
    multiValued: true,
    subAttributes: [
      attr("value", "string", { description: "An email address." }),
      attr("type", "string", { description: "work, home or other.", canonicalValues: ["work", "home", "other"] }),
      attr("primary", "boolean", { description: "The primary address." }),
    ],
  }),
  attr("active", "boolean", {
    description:
      "false withdraws the user's membership of the tenant and ends their sessions at once. Always present (it mirrors the membership); omitted on creation means true.",
    required: true,
  }),
  attr("groups", "complex", {
    description: "The tenant's groups the user is in (change them through the Group resource).",
    multiValued: true,
    mutability: "readOnly",
    subAttributes: [
      attr("value", "string", { description: "The group's id.", mutability: "readOnly" }),
      attr("$ref", "reference", { description: "The group's URI.", mutability: "readOnly", referenceTypes: ["Group"] }),
      attr("display", "string", { description: "The group's displayName.", mutability: "readOnly" }),
    ],
  }),
];

const GROUP_ATTRIBUTES = [
  attr("displayName", "string", {
    description: "The group's name, unique in the tenant; group → role mappings may name it.",
    required: true,
    uniqueness: "server",
  }),
  attr("members", "complex", {
    description: "Users of this tenant in the group.",
    multiValued: true,
    subAttributes: [
      attr("value", "string", { description: "The user's id.", mutability: "immutable" }),
      attr("$ref", "reference", { description: "The user's URI.", mutability: "immutable", referenceTypes: ["User"] }),
    ],
  }),
];

/** The documents, with locations under `base` (…/scim/v2). */
export function discovery(base: string) {
  const schema = (id: string, name: string, description: string, attributes: unknown[]) => ({
    schemas: [SCHEMA_SCHEMA],
    id,
    name,
    description,
    attributes,
    meta: { resourceType: "Schema", location: `${base}/Schemas/${id}` },
  });
  const resourceType = (id: string, endpoint: string, schemaUrn: string, description: string) => ({
    schemas: [RT_SCHEMA],
    id,
    name: id,
    endpoint,
    description,
    schema: schemaUrn,
    schemaExtensions: [],
    meta: { resourceType: "ResourceType", location: `${base}/ResourceTypes/${id}` },
  });
  return {
    serviceProviderConfig: {
      schemas: [SPC_SCHEMA],
      patch: { supported: true },
      bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
      filter: { supported: true, maxResults: MAX_RESULTS },
      changePassword: { supported: false },
      sort: { supported: false },
      etag: { supported: true },
      authenticationSchemes: [
        {
          type: "oauthbearertoken",
          name: "SCIM token",
          description: "The tenant's SCIM token (tss_scim_…) as a bearer token",
          primary: true,
        },
      ],
      meta: { resourceType: "ServiceProviderConfig", location: `${base}/ServiceProviderConfig` },
    },
    resourceTypes: [
      resourceType("User", "/Users", USER_SCHEMA, "Members of the tenant"),
      resourceType("Group", "/Groups", GROUP_SCHEMA, "Groups of the tenant's members; may map to roles"),
    ],
    schemas: [
      schema(USER_SCHEMA, "User", "A member of the tenant", USER_ATTRIBUTES),
      schema(GROUP_SCHEMA, "Group", "A group of the tenant's members", GROUP_ATTRIBUTES),
    ],
  };
}
