import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { headers } from "@nats-io/nats-core";
import { DLQ_STREAM, deadLetterSubject } from "./subjects.ts";

/** Headers a dead letter carries, naming why and where it came from. */
export const DLQ_HEADERS = {
  /** Durable name of the consumer that gave up. */
  consumer: "Tessera-Dlq-Consumer",
  /** The last error (one line, credentials masked). */
  error: "Tessera-Dlq-Error",
  /** The subject the message was originally published on. */
  subject: "Tessera-Dlq-Subject",
  /** Stream and sequence of the original message. */
  stream: "Tessera-Dlq-Stream",
  streamSequence: "Tessera-Dlq-Stream-Seq",
  /** How many times it was delivered to the consumer. */
  deliveries: "Tessera-Dlq-Deliveries",
} as const;

/**
 * Copies a message to `tessera.dlq.<durable>` with the DLQ headers. The copy's `Nats-Msg-Id` is
 * `<durable>-<stream sequence>`, so repeating this after a lost ack/term stores it once.
 */
export async function publishDeadLetter(
  js: JetStreamClient,
  msg: JsMsg,
  durable: string,
  error: string,
  timeoutMs: number,
): Promise<void> {
  const h = headers();
  h.set(DLQ_HEADERS.consumer, durable);
  h.set(DLQ_HEADERS.error, error || "unknown error");
  h.set(DLQ_HEADERS.subject, msg.subject);
  h.set(DLQ_HEADERS.stream, msg.info.stream);
  h.set(DLQ_HEADERS.streamSequence, String(msg.info.streamSequence));
  h.set(DLQ_HEADERS.deliveries, String(msg.info.deliveryCount));
  await js.publish(deadLetterSubject(durable), msg.data, {
    headers: h,
    msgID: `${durable}-${msg.info.stream}-${msg.info.streamSequence}`,
    timeout: timeoutMs,
    expect: { streamName: DLQ_STREAM },
  });
}
