/**
 * What both edges (the GraphQL gateway and the REST edge) share: reading the caller's credential,
 * exchanging it at identity for internal tokens per target service, and sending those on calls;
 * the rules of SCIM token rotation and group mappings both surfaces apply before calling identity.
 */
export {
  credentialFromHeaders,
  credentialKey,
  currentCredential,
  type EdgeCredential,
  runWithCredential,
} from "./credential.ts";
export {
  createTokenExchanger,
  exchangeInterceptor,
  type TokenExchanger,
  type TokenExchangerOptions,
} from "./exchanger.ts";
export {
  rotateScimTokenById,
  SCIM_GROUP_MAX_LENGTH,
  SCIM_MAPPING_MAX_ENTRIES,
  type ScimMappingProblem,
  type ScimTokenState,
  scimGroupProblems,
  scimTokenState,
} from "./scim.ts";
