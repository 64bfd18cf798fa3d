/**
 * A stand-in WebAuthn authenticator in Node (identity's service tests and bench/login-mfa.ts): one
 * ES256 (P-256) key, a counter, and assertions signed exactly as an authenticator signs them
 * (authenticatorData with UP and UV set, over SHA-256 of clientDataJSON). It exercises the server;
 * it is no browser and no device (the browser test uses Chromium's virtual authenticator).
 */
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";

/** base64url without padding. */
const b64url = (b: Uint8Array) => Buffer.from(b).toString("base64url");

export interface SoftAuthenticator {
  /** base64url credential id. */
  readonly credentialId: string;
  /** The COSE_Key (EC2, ES256) identity stores as the passkey's public key. */
  readonly cosePublicKey: Uint8Array;
  /** An AuthenticationResponseJSON for request options (JSON) at `origin`, as JSON. */
  assert(optionsJson: string, origin: string, userHandle?: string): string;
  /** Sets the counter the next assertion increments (a clone restored from an old backup). */
  setCounter(value: number): void;
}

export function softAuthenticator(): SoftAuthenticator {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = publicKey.export({ format: "jwk" });
  const x = Buffer.from(jwk.x ?? "", "base64url");
  const y = Buffer.from(jwk.y ?? "", "base64url");
  // CBOR map {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}
  const cosePublicKey = Buffer.concat([
    Buffer.from([0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]),
    x,
    Buffer.from([0x22, 0x58, 0x20]),
    y,
  ]);
  const credentialId = b64url(randomBytes(16));
  let counter = 0;
  return {
    credentialId,
    cosePublicKey,
    setCounter(value) {
      counter = value;
    },
    assert(optionsJson, origin, userHandle) {
      const options = JSON.parse(optionsJson) as { challenge: string; rpId: string };
      const clientDataJSON = Buffer.from(
        JSON.stringify({ type: "webauthn.get", challenge: options.challenge, origin, crossOrigin: false }),
      );
      counter += 1;
      const count = Buffer.alloc(4);
      count.writeUInt32BE(counter);
      // rpIdHash | flags (UP 0x01 | UV 0x04) | signCount
      const authData = Buffer.concat([createHash("sha256").update(options.rpId).digest(), Buffer.from([0x05]), count]);
      const signed = Buffer.concat([authData, createHash("sha256").update(clientDataJSON).digest()]);
      const signature = sign("sha256", signed, { key: privateKey, dsaEncoding: "der" });
      return JSON.stringify({
        id: credentialId,
        rawId: credentialId,
        type: "public-key",
        response: {
          clientDataJSON: b64url(clientDataJSON),
          authenticatorData: b64url(authData),
          signature: b64url(signature),
          ...(userHandle && { userHandle }),
        },
        clientExtensionResults: {},
        authenticatorAttachment: "platform",
      });
    },
  };
}
