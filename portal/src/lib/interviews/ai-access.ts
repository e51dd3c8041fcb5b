import type { EventHub } from '../events/hub';
import type { EventPublisher } from '../events/publisher';
import type { GatewayAccessAdmin } from '../gateway/access-admin';
import type { Gateway } from '../gateway/gateway';
import type { UsageSnapshot } from '../gateway/ledger';
import type { UsageSink } from '../gateway/usage-events';
import type { Logger } from '../log/logger';
import {
  ENDING_INTERVIEW_STATUSES,
  type InterviewRecord,
  type InterviewStatus,
} from '../store/types';
import type { SpecOptions } from './lifecycle';

/**
 * How interviews and the AI gateway meet: instances get a gateway token at provisioning,
 * tokens are revoked when the interview ends, the meter goes out as `interview.usage` events,
 * and changes made by other processes reach this process's gateway through the event hub.
 */

/**
 * The instance options that carry the AI gateway into a new instance: its base URL and a fresh
 * token. A failure to issue one does not fail provisioning: the IDE comes up without AI and the
 * reason is logged (the interviewer sees no usage).
 */
export function gatewaySpecOptions(deps: {
  admin: Pick<GatewayAccessAdmin, 'issueToken'>;
  /** The OpenAI-compatible base URL an instance with network uses, e.g. `http://host:3000/api/ai/v1`. */
  gatewayUrl: () => string;
  log: Pick<Logger, 'warn'>;
}): SpecOptions {
  return async (interview: InterviewRecord) => {
    try {
      const { token } = await deps.admin.issueToken(interview);
      return { gatewayUrl: deps.gatewayUrl(), gatewayToken: token };
    } catch (e) {
      deps.log.warn(
        { interviewId: interview.id, err: (e as Error).message },
        'no AI gateway token for this instance',
      );
      return undefined;
    }
  };
}

/** Revokes an ending interview's gateway tokens; logged, never thrown (the destroy goes on). */
export function revokeOnEnding(deps: {
  revoke: (interviewId: string) => Promise<unknown>;
  log: Pick<Logger, 'warn'>;
}): (interviewId: string) => Promise<void> {
  return async (interviewId) => {
    try {
      await deps.revoke(interviewId);
    } catch (e) {
      deps.log.warn(
        { interviewId, err: (e as Error).message },
        'gateway tokens not revoked (they still expire at the deadline)',
      );
    }
  };
}

/** Usage snapshots to the event feed: the interviewer's and the candidate's streams read them there. */
export function usageToFeed(publisher: EventPublisher, log: Pick<Logger, 'warn'>): UsageSink {
  return {
    usage(snapshot: UsageSnapshot) {
      publisher
        .global({
          type: 'interview.usage',
          interviewId: snapshot.interviewId,
          data: { ...snapshot },
        })
        .catch((e: Error) =>
          log.warn(
            { interviewId: snapshot.interviewId, err: e.message },
            'usage event not published',
          ),
        );
    },
  };
}

/**
 * Keeps this process's gateway in step with changes made elsewhere (another portal's
 * interviewer controls, a standalone scheduler's revocation): meters that differ from what the
 * gateway has cached, and interviews that started ending, make it re-read their access.
 * Subscribing to the hub's global topic costs one feed read per poll for the whole process.
 */
export function followAccessChanges(hub: EventHub, gateway: Gateway): () => void {
  return hub.subscribe('global', (e) => {
    if (!e.interviewId || !gateway.knows(e.interviewId)) return;
    if (e.type === 'interview.usage') {
      gateway.noteRemoteUsage(e.data as unknown as UsageSnapshot);
    } else if (
      e.type === 'interview.updated' &&
      ENDING_INTERVIEW_STATUSES.has(e.data.status as InterviewStatus)
    ) {
      gateway.invalidate(e.interviewId);
    }
  });
}
