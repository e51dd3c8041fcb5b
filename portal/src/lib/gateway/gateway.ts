import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { TableNames } from '../config/env';
import { ApiError, badRequest, isApiError } from '../http/errors';
import type { TokenStore } from '../store/gateway-tokens';
import type { LedgerStore, LedgerItem } from '../store/ledger';
import { WorkerDocumentClient } from '../store/worker-client';
import type { DynamoOptions } from '../store/client';
import { MessageStore } from '../store/messages';
import { SettingsStore } from '../store/settings';
import { GatewayAccessAdmin, type InterviewForGateway } from './access-admin';
import { AccessCache, isRevoked, type InterviewAccess } from './access';
import type { GatewayConfig } from './config';
import { promptReserveFromExact, TokenCounter } from './counting';
import { GatewayError, gwErrors } from './errors';
import { Exchange, type ExchangeDeps } from './exchange';
import { computeUsage, type UsageSnapshot } from './ledger';
import { InterviewLimiter } from './rate-limit';
import { parseChatRequest, readJsonBody } from './request';
import { ProviderSettings, type AiSettingsBody, type AiSettingsView } from './settings';
import { LedgerClosed, ReserveRefused, SlicePool, type Reservation } from './slices';
import { sendError, sendJson } from './reply';
import { SliceSweeper, type SweepStats } from './sweeper';
import { Transcript, type TranscriptMessage } from './transcript';
import { Upstream } from './upstream';
import { UsageEvents, type UsageSink } from './usage-events';

/** The logger subset the gateway uses (pino's Logger fits). Never given secrets. */
export interface GatewayLogger {
  debug(o: object, m: string): void;
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
  error(o: object, m: string): void;
}

export type { InterviewForGateway };

export interface GatewayDeps {
  db: DynamoDBDocumentClient;
  tables: Pick<TableNames, 'aiLedger' | 'aiTokens' | 'aiMessages' | 'settings'>;
  config: GatewayConfig;
  log: GatewayLogger;
  /** Encryption key for the org's provider key (settings.ts `resolveSettingsKey`); null refuses saving one. */
  settingsKey: Buffer | null;
  /** Receives usage events (the lead wires the event hub). */
  usageSink?: UsageSink;
  /** Identifies this process as a slice holder; unique per process. Default: host:pid:random. */
  holderId?: string;
  /** Clock (ms). Default Date.now. */
  now?: () => number;
  /** fetch used for the provider (tests). Default: global fetch. */
  fetch?: typeof fetch;
  /** How to reach DynamoDB: given, transcript writes run in a worker thread (off the event loop that relays answers). */
  dynamo?: DynamoOptions;
  /** Run the flush and sweep timers (default true; tests drive `flush()`/`sweep()` directly). */
  background?: boolean;
}

const CHAT_PATH = '/api/ai/v1/chat/completions';
const MODELS_PATH = '/api/ai/v1/models';

/**
 * The metered AI gateway of one portal process: OpenAI-compatible handlers authenticated by
 * per-interview gateway tokens, budget slices (I5), the transcript (I3), and the interviewer's
 * controls. See README.md in this folder for the design; `createGateway` builds a started one.
 */
export class Gateway {
  readonly holderId: string;
  readonly settings: ProviderSettings;
  private readonly now: () => number;
  private readonly cfg: GatewayConfig;
  private readonly log: GatewayLogger;
  private readonly ledger: LedgerStore;
  private readonly tokens: TokenStore;
  private readonly admin: GatewayAccessAdmin;
  private readonly access: AccessCache;
  private readonly pool: SlicePool;
  private readonly sweeper: SliceSweeper;
  private readonly counter: TokenCounter;
  private readonly transcript: Transcript;
  private readonly limiter: InterviewLimiter;
  private readonly upstream: Upstream;
  private readonly usageEvents: UsageEvents;
  private readonly exchanges = new Map<string, Set<Exchange>>();
  private readonly exchangeDeps: ExchangeDeps;
  private closing?: Promise<void>;
  /** Runs the transcript's DynamoDB calls in a worker thread (when `deps.dynamo` is given). */
  private readonly remote?: WorkerDocumentClient;

  constructor(private readonly deps: GatewayDeps) {
    this.now = deps.now ?? Date.now;
    this.cfg = deps.config;
    this.log = deps.log;
    this.holderId =
      deps.holderId ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    // Transcript batches and budget-slice writes (most of the gateway's SDK calls) run in a worker
    // thread, so their SDK work never sits between another answer and its first token. Ledger reads
    // stay here: a request waiting on one would pay the thread hop (measured slower on 2 cores).
    this.remote = deps.dynamo && new WorkerDocumentClient(deps.dynamo, deps.db, this.log);
    const background = this.remote?.asDocumentClient();
    this.admin = new GatewayAccessAdmin({
      db: deps.db,
      ...(background && { background }),
      tables: deps.tables,
      now: this.now,
    });
    this.ledger = this.admin.ledger;
    this.tokens = this.admin.tokens;
    const messages = new MessageStore(background ?? deps.db, deps.tables.aiMessages);
    this.transcript = new Transcript(messages);
    this.access = new AccessCache({
      ledger: this.ledger,
      tokens: this.tokens,
      now: this.now,
      freshMs: this.cfg.accessCacheMs,
      log: this.log,
      onChange: (before, after) => this.accessChanged(before, after),
    });
    this.pool = new SlicePool({
      ledger: this.ledger,
      holder: this.holderId,
      config: {
        sliceTokens: this.cfg.sliceTokens,
        leaseMs: this.cfg.sliceLeaseMs,
        idleMs: this.cfg.sliceIdleMs,
        flushMs: this.cfg.sliceFlushMs,
        minCompletionTokens: this.cfg.minCompletionTokens,
      },
      now: this.now,
      log: this.log,
      onLedger: (l) => this.access.applyLedger(l),
      onChange: (id) => this.usageEvents.changed(id),
    });
    this.sweeper = new SliceSweeper({
      ledger: this.ledger,
      messages,
      sweeperId: this.holderId,
      now: this.now,
      intervalMs: this.cfg.sweepIntervalMs,
      log: this.log,
    });
    this.counter = new TokenCounter({ workers: this.cfg.countWorkers, log: this.log });
    this.limiter = new InterviewLimiter({
      maxConcurrent: this.cfg.maxConcurrentPerInterview,
      perMinute: this.cfg.rateLimitPerMinute,
      now: this.now,
    });
    this.settings = new ProviderSettings({
      store: new SettingsStore(deps.db, deps.tables.settings),
      key: deps.settingsKey,
      env: { apiKey: this.cfg.openaiApiKey, baseUrl: this.cfg.openaiBaseUrl },
      now: this.now,
      log: this.log,
    });
    this.upstream = new Upstream({
      credentials: () => this.settings.credentials(),
      timeoutMs: this.cfg.upstreamTimeoutMs,
      ...(deps.fetch && { fetch: deps.fetch }),
    });
    this.usageEvents = new UsageEvents({
      sink: deps.usageSink,
      snapshot: (id) => this.snapshotFromMemory(id),
      now: this.now,
    });
    this.exchangeDeps = {
      upstream: this.upstream,
      pool: this.pool,
      counter: this.counter,
      transcript: this.transcript,
      now: this.now,
      idleMs: this.cfg.upstreamIdleMs,
      reasoningModels: this.cfg.reasoningModels,
      log: this.log,
      onDone: (x) => this.exchangeDone(x),
    };
  }

  /** Loads settings and starts the timers. `createGateway` calls it. */
  async start(): Promise<void> {
    if (this.deps.background !== false) {
      this.pool.start();
      this.sweeper.start();
    }
    await this.settings
      .load()
      .catch((e: Error) =>
        this.log.warn({ err: e.message }, 'gateway: settings not loaded; retrying on use'),
      );
  }

  /** Resolves once the token-count workers are warm (optional; tests and benchmarks). */
  ready(): Promise<void> {
    return this.counter.ready();
  }

  // ---------------------------------------------------------------- candidate API (token auth)

  /**
   * The candidate's hot endpoints, served node-natively (portal/server.ts calls this before Next):
   * `POST /api/ai/v1/chat/completions` (OpenAI-compatible, streaming or not) and
   * `GET /api/ai/v1/models`. Returns whether it took the request: false, with `res` untouched,
   * for any other path (Next serves the rest of /api/ai/v1/). A known path with another method
   * gets 405. The work continues asynchronously; failures become error responses, never
   * exceptions out of here.
   */
  serveHttp(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    let work: Promise<void>;
    if (path === CHAT_PATH)
      work = req.method === 'POST' ? this.serveChat(req, res) : this.refuseMethod(res, 'POST');
    else if (path === MODELS_PATH)
      work = req.method === 'GET' ? this.serveModels(req, res) : this.refuseMethod(res, 'GET');
    else return false;
    work.catch((e: unknown) => this.replyError(res, e));
    return true;
  }

  private async serveChat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startedAt = this.now();
    let slotOf: string | undefined;
    let reservation: Reservation | undefined;
    let ex: Exchange | undefined;
    let clientGone = false;
    res.once('close', () => {
      if (res.writableFinished) return;
      clientGone = true;
      ex?.abort('client');
    });
    try {
      if (this.closing) throw gwErrors.shuttingDown();
      const { interviewId, access } = await this.access.authenticate(
        req.headers.authorization ?? null,
      );
      if (!this.upstream.configured()) throw gwErrors.notConfigured();
      const body = parseChatRequest(
        await readJsonBody(req, this.cfg.maxRequestBytes),
        this.cfg.maxMessageBytes,
      );
      const model = this.resolveModel(body.model, access.ledger);
      this.limiter.acquire(interviewId);
      slotOf = interviewId;
      const want = Math.min(
        body.max_completion_tokens ?? body.max_tokens ?? this.cfg.maxCompletionTokens,
        this.cfg.maxCompletionTokens,
      );
      reservation = await this.reserve(interviewId, body, model, want);
      ex = new Exchange(this.exchangeDeps, {
        interviewId,
        requestId: randomBytes(12).toString('base64url'),
        req: body,
        model,
        reservation,
        stream: body.stream === true,
        includeUsage: body.stream_options?.include_usage === true,
        deadlineAt: access.ledger!.deadlineAt,
        startedAt,
      });
      this.track(ex);
      slotOf = undefined;
      reservation = undefined;
      // The client left while the request was being admitted: settle it as stopped, nothing sent.
      if (clientGone) ex.abort('client');
    } catch (e) {
      if (reservation)
        this.pool.settle(reservation, { tokensIn: 0, tokensOut: 0, estimated: false });
      if (slotOf) this.limiter.release(slotOf);
      return this.replyError(res, e);
    }
    await ex.run(res);
  }

  private async serveModels(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { access } = await this.access.authenticate(req.headers.authorization ?? null);
    const data = this.allowedModels(access.ledger).map((id) => ({
      id,
      object: 'model',
      created: 0,
      owned_by: 'interview-gateway',
    }));
    sendJson(res, 200, { object: 'list', data });
  }

  private async refuseMethod(res: ServerResponse, allow: string): Promise<void> {
    sendJson(res, 405, gwErrors.methodNotAllowed(allow).toBody(), { allow });
  }

  // ---------------------------------------------------------------- the portal's side

  /**
   * Opens the interview's ledger and issues a gateway token that expires at the deadline (see
   * GatewayAccessAdmin.issueToken). The plaintext is returned only here.
   */
  async issueToken(interview: InterviewForGateway): Promise<{ token: string; expiresAt: number }> {
    const issued = await this.admin.issueToken(interview);
    this.access.invalidate(interview.id);
    return issued;
  }

  /** Revokes every gateway token of the interview (at destroy), stops its requests, returns its slices. */
  async revoke(interviewId: string): Promise<void> {
    const ledger = await this.admin.revoke(interviewId);
    this.access.markRevoked(interviewId, this.now());
    if (ledger) this.access.applyLedger(ledger);
    this.stopInterview(interviewId, 'ended');
    await this.pool.releaseInterview(interviewId);
  }

  /**
   * Adds tokens and/or moves the deadline later (one conditional update: atomic); running
   * streams get the new cut-off. Null when the interview has no ledger yet — its token is not
   * issued, and `issueToken` will open the ledger from the (extended) interview then.
   */
  async extend(
    interviewId: string,
    change: { tokens?: number; deadlineAt?: number },
  ): Promise<UsageSnapshot | null> {
    if (change.tokens !== undefined && (!Number.isInteger(change.tokens) || change.tokens < 0)) {
      throw badRequest('tokens must be a whole number ≥ 0', { tokens: 'a whole number ≥ 0' });
    }
    const ledger = await this.ledger.extend(interviewId, change, this.now());
    if (!ledger) {
      if (!(await this.ledger.get(interviewId))) return null;
      throw badRequest('The deadline can only move later', {
        deadlineAt: 'earlier than the current deadline',
      });
    }
    if (change.deadlineAt !== undefined)
      await this.tokens.setExpiry(interviewId, change.deadlineAt);
    this.access.invalidate(interviewId);
    for (const ex of this.exchanges.get(interviewId) ?? []) ex.setDeadline(ledger.deadlineAt);
    const u = await this.usage(interviewId);
    if (u) this.usageEvents.publish(u);
    return u;
  }

  /**
   * Brings the ledger up to the interview's limits (the interview record is the source of truth
   * for budget and deadline): adds what the budget lacks, moves the deadline later. Idempotent
   * and safe to race — a retried or repeated call adds nothing — so the interviews service calls
   * it after every extension and a crash between the two writes is repaired by the next call
   * (or by `issueToken`). Null when the interview has no ledger yet.
   */
  async syncLimits(interview: InterviewForGateway): Promise<UsageSnapshot | null> {
    const before = this.access.peek(interview.id)?.ledger;
    const ledger = await this.admin.raiseLimits(interview);
    if (!ledger) return null;
    this.access.invalidate(interview.id);
    for (const ex of this.exchanges.get(interview.id) ?? []) ex.setDeadline(ledger.deadlineAt);
    const u = await this.usage(interview.id);
    if (u && (before?.budget !== ledger.budget || before?.deadlineAt !== ledger.deadlineAt))
      this.usageEvents.publish(u);
    return u;
  }

  /** The interview a gateway token belongs to (401/403 in the gateway's error shape otherwise). */
  async authenticate(authorization: string | null): Promise<string> {
    const { interviewId } = await this.access.authenticate(authorization);
    return interviewId;
  }

  /**
   * Ends AI access early: new requests are refused, running ones cut, slices returned. Null when
   * the interview has no ledger yet; `first` says whether this call ended it (the end is
   * idempotent and keeps the first time).
   */
  async endAccess(interviewId: string): Promise<{ usage: UsageSnapshot; first: boolean } | null> {
    const now = this.now();
    const ledger = await this.ledger.end(interviewId, now);
    if (!ledger) return null;
    this.access.applyLedger(ledger);
    this.stopInterview(interviewId, 'ended');
    await this.pool.releaseInterview(interviewId);
    const u = (await this.usage(interviewId))!;
    this.usageEvents.publish(u);
    return { usage: u, first: ledger.endedAt === now };
  }

  /** The meter, read fresh (ledger + every process's slices). Null when the interview has no ledger. */
  async usage(interviewId: string): Promise<UsageSnapshot | null> {
    const [ledger, slices] = await Promise.all([
      this.ledger.get(interviewId),
      this.ledger.slices(interviewId),
    ]);
    if (!ledger) return null;
    return computeUsage(ledger, this.pool.own(interviewId), slices, this.now());
  }

  async transcriptPage(
    interviewId: string,
    q: { cursor?: string; limit: number },
  ): Promise<{ messages: TranscriptMessage[]; nextCursor?: string }> {
    return this.transcript.list(interviewId, q);
  }

  settingsView(): Promise<AiSettingsView> {
    return this.settings.view();
  }

  saveSettings(body: AiSettingsBody): Promise<AiSettingsView> {
    return this.settings.save(body);
  }

  clearSettings(): Promise<AiSettingsView> {
    return this.settings.clear();
  }

  /**
   * A meter published by another process (through the event hub): if it shows a change this
   * process has not seen — access ended, budget or deadline moved — re-read the interview's
   * access now, so running streams here are cut or given the new deadline within the hub's
   * delivery time rather than at the next cache refresh.
   */
  noteRemoteUsage(
    u: Pick<UsageSnapshot, 'interviewId' | 'budget' | 'deadlineAt' | 'endedAt'>,
  ): void {
    const l = this.access.peek(u.interviewId)?.ledger;
    if (!l) return; // not cached here: the next request reads it fresh
    if (l.budget !== u.budget || l.deadlineAt !== u.deadlineAt || l.endedAt !== u.endedAt)
      this.invalidate(u.interviewId);
  }

  /** Whether this process has the interview's access cached (only then do remote changes matter here). */
  knows(interviewId: string): boolean {
    return this.access.peek(interviewId) !== undefined;
  }

  /** Drops cached access state (the event hub calls it when another process revoked, extended or ended). */
  invalidate(interviewId: string): void {
    this.access.invalidate(interviewId);
    this.access.load(interviewId).catch(() => {});
  }

  /** One sweeper pass (tests pass a future `now` instead of waiting for leases). */
  sweep(now?: number): Promise<SweepStats> {
    return this.sweeper.run(now);
  }

  /** Hands this process's slices of an interview back to its budget now (those in use, once their requests settle). */
  returnSlices(interviewId: string): Promise<void> {
    return this.pool.releaseInterview(interviewId);
  }

  /** Renews leases and releases idle slices now (tests). */
  flush(): Promise<void> {
    return this.pool.flush();
  }

  /**
   * Graceful stop: refuses new requests, lets running ones finish for `graceMs`, cuts the rest
   * (charged with estimates), returns every slice, stops the workers.
   */
  close(opts: { graceMs?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      const all = () => [...this.exchanges.values()].flatMap((s) => [...s]);
      const grace = opts.graceMs ?? 5000;
      if (all().length > 0 && grace > 0) {
        await Promise.race([
          Promise.all(all().map((x) => x.settled().catch(() => {}))),
          new Promise((r) => setTimeout(r, grace).unref()),
        ]);
      }
      for (const x of all()) x.abort('shutdown');
      await Promise.all(all().map((x) => x.settled().catch(() => {})));
      await this.pool.close();
      await this.sweeper.close();
      this.usageEvents.close();
      await this.counter.close();
      await this.remote?.close();
    })();
    return this.closing;
  }

  // ---------------------------------------------------------------- internals

  private async reserve(
    interviewId: string,
    req: ReturnType<typeof parseChatRequest>,
    model: string,
    want: number,
  ): Promise<Reservation> {
    try {
      return await this.pool.reserve(interviewId, {
        promptBound: this.counter.bound(req),
        exactPrompt: () => this.counter.countPrompt(req, model),
        reserveForExact: promptReserveFromExact,
        wantCompletion: want,
      });
    } catch (e) {
      if (e instanceof ReserveRefused) {
        const r = e.reason;
        if (r.kind === 'closed') throw gwErrors.shuttingDown();
        if (r.kind === 'prompt') throw gwErrors.promptTooLarge(r.prompt, r.available);
        throw gwErrors.budgetExhausted(r.available, r.heldElsewhere);
      }
      if (e instanceof LedgerClosed) {
        if (!e.ledger) throw gwErrors.invalidToken();
        if (e.ledger.endedAt !== undefined) throw gwErrors.accessEnded();
        throw gwErrors.deadlinePassed();
      }
      throw e;
    }
  }

  private allowedModels(ledger: LedgerItem | null): string[] {
    return ledger?.model ? [ledger.model] : this.cfg.allowedModels;
  }

  private resolveModel(asked: string | undefined, ledger: LedgerItem | null): string {
    const allowed = this.allowedModels(ledger);
    if (asked === undefined) return ledger?.model ?? this.cfg.defaultModel;
    if (allowed.includes(asked)) return asked;
    throw gwErrors.badRequest(
      `Model ${JSON.stringify(asked).slice(0, 80)} is not allowed for this interview`,
      {
        'body.model': `allowed: ${allowed.join(', ')}`,
      },
    );
  }

  private track(ex: Exchange): void {
    let set = this.exchanges.get(ex.interviewId);
    if (!set) this.exchanges.set(ex.interviewId, (set = new Set()));
    set.add(ex);
    // Access may have ended while this request was being admitted (after stopInterview ran).
    const a = this.access.peek(ex.interviewId);
    if (a && (a.ledger?.endedAt !== undefined || allRevoked(a))) ex.abort('ended');
  }

  private exchangeDone(ex: Exchange): void {
    const set = this.exchanges.get(ex.interviewId);
    set?.delete(ex);
    if (set?.size === 0) this.exchanges.delete(ex.interviewId);
    this.limiter.release(ex.interviewId);
    this.usageEvents.changed(ex.interviewId);
  }

  private stopInterview(interviewId: string, reason: 'ended'): void {
    for (const ex of this.exchanges.get(interviewId) ?? []) ex.abort(reason);
  }

  /** A refresh (or this process's own write) changed what running requests must obey. */
  private accessChanged(before: InterviewAccess | undefined, after: InterviewAccess): void {
    const b = before?.ledger;
    const a = after.ledger;
    if (!a) return;
    this.pool.noteLedger(a);
    if ((a.endedAt !== undefined && b?.endedAt === undefined) || allRevoked(after)) {
      if (this.exchanges.has(a.interviewId)) {
        this.stopInterview(a.interviewId, 'ended');
        void this.pool.releaseInterview(a.interviewId);
      }
    }
    if (b && a.deadlineAt !== b.deadlineAt)
      for (const ex of this.exchanges.get(a.interviewId) ?? []) ex.setDeadline(a.deadlineAt);
  }

  private snapshotFromMemory(interviewId: string): UsageSnapshot | null {
    const ledger = this.access.peek(interviewId)?.ledger;
    return ledger ? computeUsage(ledger, this.pool.own(interviewId), 'unknown', this.now()) : null;
  }

  private replyError(res: ServerResponse, e: unknown): void {
    if (e instanceof GatewayError) return sendError(res, e);
    if (isApiError(e)) return sendJson(res, (e as ApiError).status, (e as ApiError).toBody());
    this.log.error(
      { err: e instanceof Error ? e.message : String(e) },
      'gateway: unexpected error',
    );
    sendJson(res, 500, { error: { code: 'internal', message: 'Internal error' } });
  }
}

const allRevoked = (a: InterviewAccess) =>
  a.ledger?.tokensRevokedAt !== undefined &&
  [...a.tokens.values()].every((t) => isRevoked(t, a.ledger));

/** Builds and starts a gateway (see `GatewayDeps`). */
export async function createGateway(deps: GatewayDeps): Promise<Gateway> {
  const g = new Gateway(deps);
  await g.start();
  return g;
}
