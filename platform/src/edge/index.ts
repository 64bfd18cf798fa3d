/**
 * What both edges (the GraphQL gateway and the REST edge) share: reading the caller's credential,
 * exchanging it at identity for internal tokens per target service, and sending those on calls.
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
