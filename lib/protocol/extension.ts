/**
 * WebSocket extensions (RFC 6455 §9), modelled on ws-rs's `Extension` trait:
 * an extension negotiates its parameters in the opening handshake, then
 * transforms every data frame going out and coming in.
 *
 * Sans-I/O like the rest of the core: no sockets, no timers. A transform may
 * finish at once or asynchronously (permessage-deflate handles small frames
 * synchronously and runs zlib in the thread pool for larger ones): it
 * reports through an {@link ExtensionSink}, and the core pauses the parser
 * (incoming) or holds later frames in a queue (outgoing) until it does, so
 * messages and control frames keep their order.
 *
 * One `Extension` object serves one connection; an {@link ExtensionFactory}
 * makes a fresh one per handshake.
 */
import { HandshakeError, WebSocketError } from './errors';
import type { ExtensionOffer } from './handshake';

/** Parameters of one offer or response element: `true` for a parameter without a value. */
export type ExtensionParams = Record<string, string | true>;

/**
 * A data frame as an extension sees it. `rsv` holds the RSV bits as they sit
 * in the first header byte (0x40 RSV1, 0x20 RSV2, 0x10 RSV3). `opcode` is
 * Text, Binary or Continuation. Extensions may change `payload` and `rsv` (or
 * pass a new object on); they must not change `opcode` or `fin`.
 */
export interface ExtensionFrame {
  opcode: number;
  fin: boolean;
  rsv: number;
  payload: Buffer;
}

/** Where a transform delivers its result. Call exactly one method, once, now or later. */
export interface ExtensionSink {
  /** The transformed frame. */
  next(frame: ExtensionFrame): void;
  /** The frame cannot be transformed: the connection fails with `error.closeCode`. */
  error(error: WebSocketError): void;
}

/** What a factory learns about the connection it makes an extension for. */
export interface ExtensionContext {
  role: 'client' | 'server';
  /** Largest incoming message (after decoding), in bytes. */
  maxPayload: number;
}

/**
 * One extension on one connection (ws-rs `Extension`). Negotiation first:
 * a client calls {@link offer} and then {@link accept} with the server's
 * answer; a server calls {@link acceptOffer} with the client's offers. After
 * a successful negotiation the core calls {@link encode} for every outgoing
 * data frame and {@link decode} for every incoming one, one at a time per
 * direction, in order.
 */
export interface Extension {
  /** Extension token, e.g. `permessage-deflate`. */
  readonly name: string;
  /** RSV bits this extension may set on data frames (0 if none). */
  readonly rsv: number;
  /** The parameters agreed (the server's response element), once negotiated. */
  readonly params: ExtensionParams;
  /** Client: the offers to send, most preferred first (RFC 7692 §5: several offers are alternatives). */
  offer(): ExtensionParams[];
  /**
   * Client: the server accepted with `params`. Returns null when acceptable,
   * or why not (the client then fails the handshake: RFC 6455 §4.1, RFC 7692 §5).
   */
  accept(params: ExtensionParams): string | null;
  /**
   * Server: the client's offers for this extension, in order. Returns the
   * parameters of the response for the first offer it can honour, or null to
   * decline them all (the connection then goes ahead without it).
   */
  acceptOffer(offers: ExtensionParams[]): ExtensionParams | null;
  /** Transforms an outgoing data frame. */
  encode(frame: ExtensionFrame, sink: ExtensionSink): void;
  /** Transforms an incoming data frame. */
  decode(frame: ExtensionFrame, sink: ExtensionSink): void;
  /** The connection is over: release resources. Pending transforms may be dropped. */
  dispose(): void;
}

/** Makes a fresh {@link Extension} for each connection. */
export type ExtensionFactory = (context: ExtensionContext) => Extension;

/** Result of a server-side negotiation. */
export interface ServerNegotiation {
  /** Elements for the response's `Sec-WebSocket-Extensions` (and `conn.extensions`). */
  agreed: ExtensionOffer[];
  /** The extensions in use, in the order of `agreed`. */
  active: Extension[];
}

/**
 * Server side (RFC 6455 §9.1): for each configured extension, in the server's
 * order, hands it the client's offers of that name; the ones that accept go
 * into the response in that order. An extension whose RSV bits an earlier one
 * already uses is skipped. Offers of unknown extensions are ignored.
 */
export function negotiateServer(
  factories: readonly ExtensionFactory[],
  offers: readonly ExtensionOffer[],
  context: ExtensionContext,
): ServerNegotiation {
  const agreed: ExtensionOffer[] = [];
  const active: Extension[] = [];
  if (offers.length === 0) return { agreed, active };
  let usedRsv = 0;
  for (const factory of factories) {
    const ext = factory(context);
    const mine: ExtensionParams[] = [];
    for (const o of offers) if (o.name === ext.name) mine.push(o.params);
    if (mine.length === 0 || (ext.rsv & usedRsv) !== 0 || active.some((a) => a.name === ext.name)) {
      ext.dispose();
      continue;
    }
    const params = ext.acceptOffer(mine);
    if (params === null) {
      ext.dispose();
      continue;
    }
    usedRsv |= ext.rsv;
    agreed.push({ name: ext.name, params });
    active.push(ext);
  }
  return { agreed, active };
}

/** Client side: the extensions to offer and the offers, in order. */
export function clientOffers(instances: readonly Extension[]): ExtensionOffer[] {
  const out: ExtensionOffer[] = [];
  for (const ext of instances) for (const params of ext.offer()) out.push({ name: ext.name, params });
  return out;
}

/**
 * Client side: checks the server's accepted extensions (already checked to be
 * offered and not repeated by `validateServerResponse`) against the
 * instances, and returns the active ones in the response's order. Instances
 * the server did not accept are disposed (on success; on failure the caller
 * disposes them all). Fails with a `HandshakeError`
 * (`WS_ERR_HANDSHAKE_EXTENSION`) when an extension refuses the response's
 * parameters or two accepted extensions claim the same RSV bit.
 */
export function acceptClient(
  instances: readonly Extension[],
  accepted: readonly ExtensionOffer[],
  status = 101,
): Extension[] | HandshakeError {
  const active: Extension[] = [];
  let usedRsv = 0;
  let error: HandshakeError | null = null;
  for (const element of accepted) {
    const ext = instances.find((e) => e.name === element.name);
    if (ext === undefined) {
      error = new HandshakeError(`Server accepted an extension that was not offered: "${element.name}"`, status, 'WS_ERR_HANDSHAKE_EXTENSION');
      break;
    }
    const why = ext.accept(element.params);
    if (why !== null) {
      error = new HandshakeError(`Invalid ${element.name} response: ${why}`, status, 'WS_ERR_HANDSHAKE_EXTENSION');
      break;
    }
    if ((ext.rsv & usedRsv) !== 0) {
      error = new HandshakeError(`Extensions claim the same RSV bit: "${element.name}"`, status, 'WS_ERR_HANDSHAKE_EXTENSION');
      break;
    }
    usedRsv |= ext.rsv;
    active.push(ext);
  }
  if (error !== null) return error; // the caller disposes every instance
  for (const ext of instances) if (!active.includes(ext)) ext.dispose();
  return active;
}
