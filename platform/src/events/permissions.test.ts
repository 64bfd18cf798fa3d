import { describe, expect, it } from "vitest";
import { natsConnectOptions } from "./nats.ts";
import { inboxPrefix, NATS_ACCESS, natsPermissions, natsUserPermissions } from "./permissions.ts";

describe("NATS permissions", () => {
  it("derives every deployable's permissions from its declared access", () => {
    const all = natsUserPermissions();
    expect(Object.keys(all).sort()).toEqual(Object.keys(NATS_ACCESS).sort());
    expect(all.tenancy.publish).toEqual({ allow: expect.arrayContaining(["tessera.evt.*.tenant.*"]) });
    expect(all.tenancy.subscribe).toEqual({ allow: ["_INBOX.tenancy.>"] });
    // a gateway that only listens may publish nothing at all
    expect(all.graphql.publish).toEqual({ deny: [">"] });
    expect(all.identity.publish).toEqual({
      allow: expect.arrayContaining([
        "$JS.API.CONSUMER.CREATE.TESSERA_EVENTS.identity_tenants.tessera.evt.*.tenant.*",
        "$JS.ACK.TESSERA_EVENTS.identity_tenants.>",
        "tessera.dlq.identity_tenants",
      ]),
    });
    for (const p of Object.values(all)) {
      const allowed = "allow" in p.publish ? p.publish.allow : [];
      expect(allowed).not.toContain(">");
      expect(allowed.some((s) => s === "$JS.API.>" || s.startsWith("_INBOX"))).toBe(false);
    }
  });

  it("denies everything to a deployable that declares nothing", () => {
    expect(natsPermissions("idle", {})).toEqual({ publish: { deny: [">"] }, subscribe: { deny: [">"] } });
  });

  it("names inboxes after their user, and refuses names that are not one subject token", () => {
    expect(inboxPrefix("rest")).toBe("_INBOX.rest");
    expect(() => inboxPrefix("a.b")).toThrow(TypeError);
    expect(() => inboxPrefix("*")).toThrow(TypeError);
  });
});

describe("natsConnectOptions", () => {
  it("takes the user and password out of the URL, and the user's own inbox prefix", () => {
    const o = natsConnectOptions("nats://projects:s%3Acret@nats.example:4222", "projects");
    expect(o).toMatchObject({
      servers: ["nats://nats.example:4222"],
      user: "projects",
      pass: "s:cret",
      inboxPrefix: "_INBOX.projects",
    });
  });

  it("reads a lone user as a token, leaves URLs without credentials alone, and refuses mixed credentials", () => {
    expect(natsConnectOptions("nats://t0ken@127.0.0.1:4222", "x")).toMatchObject({
      servers: ["nats://127.0.0.1:4222"],
      token: "t0ken",
    });
    const plain = natsConnectOptions(["nats://a:4222", "nats://b:4222"], "x");
    expect(plain.servers).toEqual(["nats://a:4222", "nats://b:4222"]);
    expect(plain).not.toHaveProperty("user");
    expect(plain).not.toHaveProperty("inboxPrefix");
    expect(() => natsConnectOptions(["nats://a:1@a:4222", "nats://b:2@b:4222"], "x")).toThrow(/different credentials/);
  });
});
