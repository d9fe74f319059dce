/** A ParserHandler / ProtocolHandler that records what it is told, as plain values. */
import type { Frame, ParserHandler } from '../../lib/protocol/frame-parser';
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
