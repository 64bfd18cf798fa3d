export {
  ACR_FEDERATED,
  ACR_MFA,
  ACR_PASSWORD,
  type ActorClaim,
  acrFor,
  authenticationFromClaims,
  ClaimsError,
  flattenActorChain,
  hasRecentMfa,
  type InternalTokenClaims,
  principalFromClaims,
  SECOND_FACTOR_METHODS,
  TOKEN_PRINCIPAL_KINDS,
  type TokenPrincipalKind,
} from "./claims.ts";
export {
  ALWAYS_PUBLIC_SERVICES,
  type AuthInterceptorOptions,
  authInterceptor,
  verifiedTokenKey,
} from "./interceptor.ts";
export {
  definePermissions,
  hasScope,
  type PermissionOf,
  type Permissions,
  type RoleTable,
  requireScope,
} from "./permissions.ts";
export {
  createServiceTokenSource,
  type ServiceTokenSource,
  type ServiceTokenSourceOptions,
  serviceTokenInterceptor,
} from "./service-credentials.ts";
export {
  ACCEPTED_ALGORITHMS,
  type ClaimCheckOptions,
  createLocalVerifier,
  createTokenVerifier,
  type LocalVerifierOptions,
  MAX_TOKEN_LENGTH,
  type TokenVerifier,
  type TokenVerifierOptions,
  type VerifiedToken,
} from "./verifier.ts";
