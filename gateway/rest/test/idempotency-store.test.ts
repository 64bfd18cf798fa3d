import { randomUUID } from "node:crypto";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connectNats } from "@tessera/platform/events";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  createKvIdempotencyStore,
  type IdempotencyStore,
  idempotencyScope,
  requestFingerprint,
} from "../src/idempotency.ts";

const DAY = 24 * 60 * 60 * 1000;
const response = { status: 201, headers: { "content-type": "application/json; charset=utf-8" }, body: '{"id":"x"}' };

describe("idempotency records in NATS KV", () => {
  let nc: NatsConnection;
  let store: IdempotencyStore;
  let now = Date.now();
  const bucket = `rest_idem_${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    nc = await connectNats(inject("natsUrl"), "rest-idempotency-test");
    store = await createKvIdempotencyStore(nc, { bucket, ttlMs: DAY, lockMs: 60_000, now: () => now });
  });

  afterAll(async () => {
    await (await new Kvm(nc).open(bucket)).destroy().catch(() => undefined);
    await nc?.close();
  });

  const fp = (body: unknown) => requestFingerprint({ subject: "key-1", method: "POST", path: "/v1/projects", body });

  it("keeps records at least 24 h", async () => {
    const status = await (await new Kvm(nc).open(bucket)).status();
    expect(status.ttl).toBeGreaterThanOrEqual(DAY);
  });

  it("lets the first request run, refuses a duplicate while it runs, replays it once done", async () => {
    const scope = idempotencyScope(randomUUID(), "key-a");
    const first = await store.begin(scope, fp({ name: "A" }));
    expect(first.kind).toBe("proceed");
    expect((await store.begin(scope, fp({ name: "A" }))).kind).toBe("in-flight");
    if (first.kind !== "proceed") return;
    await first.lease.complete(response);
    expect(await store.begin(scope, fp({ name: "A" }))).toEqual({ kind: "replay", response });
    // key order and whitespace do not make a different request
    expect(
      (
        await store.begin(
          scope,
          requestFingerprint({
            subject: "key-1",
            method: "POST",
            path: "/v1/projects",
            body: JSON.parse('{ "name" : "A" }'),
          }),
        )
      ).kind,
    ).toBe("replay");
  });

  it("refuses the same key for a different body, path or caller", async () => {
    const scope = idempotencyScope(randomUUID(), "key-b");
    const first = await store.begin(scope, fp({ name: "B" }));
    if (first.kind !== "proceed") throw new Error("expected to proceed");
    await first.lease.complete(response);
    expect((await store.begin(scope, fp({ name: "other" }))).kind).toBe("mismatch");
    const otherCaller = requestFingerprint({
      subject: "key-2",
      method: "POST",
      path: "/v1/projects",
      body: { name: "B" },
    });
    expect((await store.begin(scope, otherCaller)).kind).toBe("mismatch");
  });

  it("scopes keys per tenant: the same key of another tenant is a new request", async () => {
    const a = idempotencyScope(randomUUID(), "shared-key");
    const b = idempotencyScope(randomUUID(), "shared-key");
    const first = await store.begin(a, fp({ name: "C" }));
    if (first.kind !== "proceed") throw new Error("expected to proceed");
    await first.lease.complete(response);
    expect((await store.begin(b, fp({ name: "C" }))).kind).toBe("proceed");
  });

  it("frees an abandoned key, and lets a retry take over a key whose request died", async () => {
    const scope = idempotencyScope(randomUUID(), "key-d");
    const first = await store.begin(scope, fp({ name: "D" }));
    if (first.kind !== "proceed") throw new Error("expected to proceed");
    await first.lease.abandon();
    const second = await store.begin(scope, fp({ name: "D" }));
    expect(second.kind).toBe("proceed");
    // the second request's replica dies: after the lock time a retry takes the key over
    now += 61_000;
    const third = await store.begin(scope, fp({ name: "D" }));
    expect(third.kind).toBe("proceed");
    // the dead request's late completion cannot overwrite the new owner's record
    if (second.kind !== "proceed" || third.kind !== "proceed") return;
    await expect(second.lease.complete(response)).rejects.toThrow();
    await third.lease.complete({ ...response, status: 200 });
    expect(await store.begin(scope, fp({ name: "D" }))).toMatchObject({ kind: "replay", response: { status: 200 } });
  });

  it("lets exactly one of two racing requests run", async () => {
    const scope = idempotencyScope(randomUUID(), "key-e");
    const outcomes = await Promise.all([store.begin(scope, fp({ n: 1 })), store.begin(scope, fp({ n: 1 }))]);
    expect(outcomes.map((o) => o.kind).sort()).toEqual(["in-flight", "proceed"]);
  });
});
