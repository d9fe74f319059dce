/**
 * A text message longer than a JavaScript string can be (V8: 2^29 - 24 UTF-16
 * units on 64-bit) can only arrive when `maxPayload` is set above that. It
 * cannot be emitted as a string, so the connection fails with 1009
 * (MessageTooBigError) and tells the application; the process goes on.
 */
import { expect } from 'chai';
import { constants } from 'node:buffer';
import { firstValueFrom } from 'rxjs';
import { MessageTooBigError } from '../../lib';
import { createPair } from '../../lib/testing';

/** Sends `bytes` as one text frame (there is no public way to send text from bytes). */
function sendTextBytes(conn: unknown, bytes: Buffer): void {
  (conn as { transport: { protocol: { sendBinary(data: Buffer, fragmentSize: number, text: boolean): boolean } } }).transport.protocol.sendBinary(
    bytes,
    0,
    true,
  );
}

describe('integration: a text message too long for a string', function () {
  this.timeout(60000);
  const n = constants.MAX_STRING_LENGTH + 1;

  for (const when of ['as it arrives', 'when it was held for the first subscriber']) {
    it(`fails the connection with 1009 and a MessageTooBigError, ${when}`, async () => {
      const { client, server } = createPair({ maxPayload: n + 1024 });
      let big: Buffer | null = Buffer.alloc(n, 0x61); // 'a' × n: valid UTF-8, one unit per byte
      const failure = (): Promise<unknown> =>
        firstValueFrom(server.messages$).then(
          (m) => new Error(`emitted a ${typeof m}`),
          (error: unknown) => error,
        );
      let outcome: Promise<unknown>;
      if (when === 'as it arrives') {
        outcome = failure();
        sendTextBytes(client, big);
      } else {
        sendTextBytes(client, big);
        // Held: parsed before anyone subscribed (and reading paused behind it).
        const held = server as unknown as { pendingBytes: number };
        for (let i = 0; i < 1000 && held.pendingBytes < n; i++) await new Promise((r) => setTimeout(r, 10));
        // One message of n bytes held (each held message also counts its objects).
        expect(held.pendingBytes).to.be.within(n, n + 1024);
        outcome = failure();
      }
      big = null;
      const error = await outcome;
      expect(error).to.be.instanceOf(MessageTooBigError);
      expect((error as MessageTooBigError).closeCode).to.equal(1009);
      expect((error as MessageTooBigError).limit).to.equal(constants.MAX_STRING_LENGTH);
      expect((error as Error).message).to.match(/does not fit in a JavaScript string/);
      const info = await client.closed;
      expect(info.code).to.equal(1009);
      expect(info.reason).to.match(/^text message of \d+ bytes/);
      expect((await server.closed).error).to.equal(error);
    });
  }
});
