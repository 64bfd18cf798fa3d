import { anyUnpack, timestampDate } from "@bufbuild/protobuf/wkt";
import type { NatsConnection } from "@nats-io/nats-core";
import { decodeEnvelope, EVENT_SUBJECT_PREFIX, isUuid } from "@tessera/platform/events";
import type { Logger } from "@tessera/platform/log";
import { type Task, TaskEventSchema } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { UnavailableError } from "../errors/gateway-errors.ts";

/** The kinds of task events the graph delivers, from `task.<verb>`. */
export const TASK_EVENT_TYPES = {
  "task.created": "CREATED",
  "task.updated": "UPDATED",
  "task.completed": "COMPLETED",
  "task.moved": "MOVED",
  "task.deleted": "DELETED",
} as const;

/** One delivered task event. */
export interface TaskEventMessage {
  readonly eventId: string;
  readonly type: (typeof TASK_EVENT_TYPES)[keyof typeof TASK_EVENT_TYPES];
  readonly occurredAt: Date;
  /** The task as the event describes it (for task.deleted: as it was when deleted). */
  readonly task: Task;
  readonly changedFields: readonly string[];
}

/** Where subscriptions get task events from. */
export interface TaskEventSource {
  /**
   * Task events of one project of one tenant, until `signal` aborts or the consumer stops. The
   * tenant must be the caller's (from its verified token): the NATS subject is built from it, so
   * another tenant's events are never even received.
   */
  subscribe(tenantId: string, projectId: string, signal: AbortSignal): Promise<AsyncIterable<TaskEventMessage>>;
}

/** Task events from NATS core subscriptions on `tessera.evt.<tenantId>.task.>`. */
export function createTaskEventSource(nats: NatsConnection | undefined, log: Logger): TaskEventSource {
  return {
    async subscribe(tenantId, projectId, signal) {
      if (!nats || nats.isClosed() || signal.aborted)
        throw new UnavailableError("Live updates are not available right now.");
      if (!isUuid(tenantId)) throw new Error("task events need the caller's tenant id");
      const sub = nats.subscribe(`${EVENT_SUBJECT_PREFIX}.${tenantId.toLowerCase()}.task.>`);
      const stop = () => sub.unsubscribe();
      signal.addEventListener("abort", stop, { once: true });
      // the server knows the subscription before the caller is told it is live
      await nats.flush().catch(() => undefined);
      async function* events(): AsyncGenerator<TaskEventMessage> {
        try {
          for await (const msg of sub) {
            const decoded = decodeEnvelope(msg.data, msg.subject);
            if (!decoded.ok) {
              log.warn({ subject_kind: "task", reason: decoded.reason }, "ignored an undecodable task event");
              continue;
            }
            const { envelope } = decoded;
            const type = TASK_EVENT_TYPES[envelope.type as keyof typeof TASK_EVENT_TYPES];
            if (type === undefined || envelope.tenantId !== tenantId.toLowerCase() || !envelope.payload) continue;
            const payload = anyUnpack(envelope.payload, TaskEventSchema);
            if (!payload?.task || payload.task.projectId !== projectId) continue;
            yield {
              eventId: envelope.id,
              type,
              occurredAt: envelope.occurredAt ? timestampDate(envelope.occurredAt) : new Date(),
              task: payload.task,
              changedFields: payload.changedFields,
            };
          }
        } finally {
          signal.removeEventListener("abort", stop);
          stop();
        }
      }
      const iterator = events();
      const finish = iterator.return.bind(iterator);
      // a stream closed before its first event never enters the generator's finally
      iterator.return = (value) => {
        signal.removeEventListener("abort", stop);
        stop();
        return finish(value);
      };
      return iterator;
    },
  };
}
