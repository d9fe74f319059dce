/**
 * Connection and endpoint options are checked where they are given: a bad
 * value throws a RangeError naming it at the call, not later from a timer
 * (`setTimeout` turns Infinity or more than 2^31 - 1 ms into 1 ms) or from
 * the parser (a limit above the largest Buffer).
 */
import { expect } from 'chai';
import { constants } from 'node:buffer';
import * as http from 'node:http';
import { Duplex } from 'node:stream';
import { attach, connect, listen, upgrade } from '../lib';
import { resolveConnectionOptions } from '../lib/options';
import { createPair } from '../lib/testing';

const BAD: [string, unknown][] = [
  ['maxPayload', -1],
  ['maxPayload', Number.NaN],
  ['maxPayload', '1024'],
  ['highWaterMark', -5],
  ['closeTimeout', Infinity],
  ['closeTimeout', 2 ** 31],
  ['closeTimeout', -1],
  ['handshakeTimeout', Number.NaN],
  ['handshakeTimeout', 1e12],
  ['maxHeaderSize', 0],
  ['maxHeaderSize', Infinity],
];

function expectRangeError(name: string, fn: () => unknown): void {
  expect(fn, name).to.throw(RangeError, new RegExp(`^${name} must be a number`));
}

describe('options', () => {
  it('a bad connection option throws a RangeError naming it, at the call of connect, listen, attach, upgrade and createPair', () => {
    const server = http.createServer();
    const request = new http.IncomingMessage(new Duplex() as never);
    for (const [name, value] of BAD) {
      const options = { [name]: value } as Record<string, number>;
      expectRangeError(name, () => connect('ws://127.0.0.1:9', options));
      expectRangeError(name, () => listen(0, options));
      expectRangeError(name, () => attach(server, options));
      expectRangeError(name, () => upgrade(request, new Duplex(), Buffer.alloc(0), options));
      expectRangeError(name, () => createPair(options));
    }
  });

  it('checks shutdownTimeout and maxConnections of an endpoint', () => {
    const server = http.createServer();
    expectRangeError('shutdownTimeout', () => listen(0, { shutdownTimeout: Infinity }));
    expectRangeError('shutdownTimeout', () => attach(server, { shutdownTimeout: -1 }));
    expectRangeError('maxConnections', () => listen(0, { maxConnections: -1 }));
    expectRangeError('maxConnections', () => attach(server, { maxConnections: Number.NaN }));
  });

  it('takes the limits of the range, and caps maxPayload at the largest Buffer', () => {
    expect(resolveConnectionOptions({ maxPayload: 0, highWaterMark: 0, closeTimeout: 0, handshakeTimeout: 2 ** 31 - 1, maxHeaderSize: 1 })).to.deep.equal({
      maxPayload: 0,
      highWaterMark: 0,
      closeTimeout: 0,
      handshakeTimeout: 2 ** 31 - 1,
      maxHeaderSize: 1,
    });
    expect(resolveConnectionOptions({ maxPayload: Infinity, highWaterMark: Infinity }).maxPayload).to.equal(constants.MAX_LENGTH);
    expect(resolveConnectionOptions({ maxPayload: constants.MAX_LENGTH + 1 }).maxPayload).to.equal(constants.MAX_LENGTH);
    expect(resolveConnectionOptions(undefined)).to.deep.equal({
      maxPayload: 64 * 1024 * 1024,
      highWaterMark: 256 * 1024,
      closeTimeout: 10_000,
      handshakeTimeout: 10_000,
      maxHeaderSize: 16 * 1024,
    });
    expect(() => listen(0, { maxPayload: Infinity, shutdownTimeout: 0, maxConnections: Infinity })).not.to.throw();
  });
});
