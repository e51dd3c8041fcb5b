import type { OperationEvent } from '../store/types';

/** A change anyone watching the portal may care about (lists, dashboards). */
export interface GlobalEventInput {
  /** `interview.usage`: the AI token meter (lib/gateway UsageSnapshot), throttled per interview. */
  type: 'interview.updated' | 'operation.updated' | 'interview.usage';
  interviewId?: string;
  operationId?: string;
  /** The new state, small enough for an SSE frame (no secrets). */
  data: Record<string, unknown>;
}

/**
 * How producers (the operations engine, services) hand events to the event hub.
 * Contract (I7): `operationEvents` is called only after those events are stored;
 * `global` stores the event itself, then publishes it.
 */
export interface EventPublisher {
  operationEvents(operationId: string, events: OperationEvent[]): void;
  global(event: GlobalEventInput): Promise<void>;
}

/** For code paths that run without a hub (e.g. a bare engine in unit tests). */
export const noopPublisher: EventPublisher = {
  operationEvents() {},
  async global() {},
};
