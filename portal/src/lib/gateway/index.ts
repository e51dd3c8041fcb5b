/** The AI gateway's public surface (see README.md in this folder). */
export {
  createGateway,
  Gateway,
  type GatewayDeps,
  type GatewayLogger,
  type InterviewForGateway,
} from './gateway';
export { gatewayConfig, type GatewayConfig } from './config';
export {
  resolveSettingsKey,
  aiSettingsBody,
  type AiSettingsBody,
  type AiSettingsView,
} from './settings';
export type { UsageSnapshot } from './ledger';
export type { UsageSink } from './usage-events';
export type { TranscriptMessage } from './transcript';
export { GatewayAccessAdmin } from './access-admin';
