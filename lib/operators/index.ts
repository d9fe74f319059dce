/**
 * The operators, one file per export (rxjs `src/internal/operators/`).
 */
export { fragment } from './fragment';
export type { FragmentConfig } from './fragment';
export { assembleMessages } from './assemble-messages';
export type { AssembleConfig } from './assemble-messages';
export { heartbeat } from './heartbeat';
export type { HeartbeatConfig, HeartbeatConnection, HeartbeatInfo } from './heartbeat';
export { closeWith } from './close-with';
export type { CloseWithConfig } from './close-with';
export { reconnect, backoffDelay, defaultShouldRetry } from './reconnect';
export type { ReconnectConfig, RetryInfo } from './reconnect';
export { reconnecting } from './reconnecting';
export type { DroppedMessage, OverflowPolicy, ReconnectingOptions, ReconnectingSocket, ReconnectingState } from './reconnecting';
export { codec } from './codec';
export type { Codec, CodecConfig, CodecConnection, DecodeErrorPolicy } from './codec';
export { json } from './json';
export type { JsonConfig } from './json';
export { createHub } from './hub';
export type { Hub, HubConfig, HubDrop, PublishOptions, PublishResult, SlowMemberPolicy } from './hub';
export { proxy } from './proxy';
export type { ProxyConfig, ProxySession } from './proxy';
export {
  HeartbeatTimeoutError,
  DecodeError,
  EncodeError,
  OutboxOverflowError,
  ReconnectExhaustedError,
} from './errors';
