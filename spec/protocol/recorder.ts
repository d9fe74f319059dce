/** A ParserHandler / ProtocolHandler that records what it is told, as plain values. */
import { FrameParser, type Frame, type ParserHandler } from '../../lib/protocol/frame-parser';
import type { WebSocketError } from '../../lib/protocol/errors';

export type ParserEvent =
  | ['message', string, boolean]
  | ['control', number, string]
  | ['frame', number, boolean, string]
  | ['error', number, string];

export class ParserRecorder implements ParserHandler {
  events: ParserEvent[] = [];
  onMessage(payload: Buffer, text: boolean): void {
    this.events.push(['message', payload.toString('hex'), text]);
  }
  onControl(opcode: number, payload: Buffer): void {
    this.events.push(['control', opcode, payload.toString('hex')]);
  }
  onFrame(f: Frame): void {
    this.events.push(['frame', f.opcode, f.fin, f.payload.toString('hex')]);
  }
  onParseError(error: WebSocketError): void {
    this.events.push(['error', error.closeCode, error.code]);
  }
}

/** Keeps messages as Buffers (copies), for payloads whose hex the recorder would make megabytes of. */
export class MessageCollector implements ParserHandler {
  messages: { payload: Buffer; text: boolean }[] = [];
  errors: WebSocketError[] = [];
  onMessage(payload: Buffer, text: boolean): void {
    this.messages.push({ payload: Buffer.from(payload), text });
  }
  onControl(): void {}
  onFrame(): void {}
  onParseError(error: WebSocketError): void {
    this.errors.push(error);
  }
}

/** Parses `pieces` (each copied first: unmasking is in place) with a fresh parser; what it reported. */
export function collect(pieces: Buffer[], role: 'client' | 'server', maxPayload = 64 << 20): MessageCollector {
  const c = new MessageCollector();
  const parser = new FrameParser(c, { role, maxPayload });
  for (const p of pieces) parser.receive(Buffer.from(p));
  return c;
}
