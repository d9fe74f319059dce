/**
 * ws-rx: lightweight, event-driven, reactive WebSockets (RFC 6455) for
 * TypeScript on Node.js.
 */
export { listen, parseListenAddress } from './server';
export type { Listener, ListenAddress, ServerOptions } from './server';
export { connect } from './client';
export type { ClientOptions } from './client';
export { Connection, endingError } from './connection';
export type { CloseInfo, Frame, OutgoingFrame, SendOptions, UpgradeRequest, Undelivered, WebSocketData } from './connection';
export type { ConnectionOptions } from './options';
export { CloseCode, OK_CLOSE_CODES, isValidCloseCode } from './protocol/close-codes';
export { Opcode } from './protocol/opcodes';
export {
  WebSocketError,
  ProtocolError,
  InvalidPayloadError,
  PolicyViolationError,
  MessageTooBigError,
  HandshakeError,
  TimeoutError,
  InternalError,
  ConnectionClosedError,
  NotDeliveredError,
  UsageError,
} from './protocol/errors';
export type { ExtensionOffer } from './protocol/handshake';
export { prepareMessage } from './connection';
export type { PreparedMessage } from './connection';
export {
  fragment,
  assembleMessages,
  heartbeat,
  closeWith,
  reconnect,
  backoffDelay,
  defaultShouldRetry,
  reconnecting,
  codec,
  json,
  createHub,
  proxy,
  HeartbeatTimeoutError,
  DecodeError,
  EncodeError,
  OutboxOverflowError,
  ReconnectExhaustedError,
} from './operators';
export type {
  FragmentConfig,
  AssembleConfig,
  HeartbeatConfig,
  HeartbeatConnection,
  HeartbeatInfo,
  CloseWithConfig,
  ReconnectConfig,
  RetryInfo,
  DroppedMessage,
  OverflowPolicy,
  ReconnectingOptions,
  ReconnectingSocket,
  ReconnectingState,
  Codec,
  CodecConfig,
  CodecConnection,
  DecodeErrorPolicy,
  JsonConfig,
  Hub,
  HubConfig,
  HubDrop,
  PublishOptions,
  PublishResult,
  SlowMemberPolicy,
  ProxyConfig,
  ProxySession,
} from './operators';
export { attach, upgrade } from './attach';
export type { AttachOptions, Attachment } from './attach';
export type { EndpointOptions } from './server';
export type {
  HandshakeHook,
  HandshakeRequest,
  HandshakeResult,
  HandshakeAccept,
  HandshakeReject,
} from './transport/accept';
export { perMessageDeflate, perMessageDeflateOffers, PERMESSAGE_DEFLATE } from './protocol/deflate';
export type { PerMessageDeflateOptions } from './protocol/deflate';
export type {
  Extension,
  ExtensionFactory,
  ExtensionContext,
  ExtensionFrame,
  ExtensionParams,
  ExtensionSink,
} from './protocol/extension';
export type { SendFrameHook } from './protocol/connection';
