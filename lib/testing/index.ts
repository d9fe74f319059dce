/**
 * `ws-rx/testing`: test your WebSocket pipelines without sockets.
 *
 * - `createPair()`: a client and a server `Connection` in memory, running the
 *   real protocol core; with `{ scheduler }` the whole conversation runs in
 *   virtual time, inside `TestScheduler.run`.
 * - `duplexPair()`: two connected in-memory Node duplex streams.
 * - `VirtualStream`: the virtual-time byte stream behind a scheduled pair.
 */
export { createPair } from './create-pair';
export type { ConnectionPair, PairOptions } from './create-pair';
export { duplexPair } from './duplex-pair';
export type { DuplexPairOptions } from './duplex-pair';
export { VirtualStream, virtualStreamPair } from './virtual-stream';
