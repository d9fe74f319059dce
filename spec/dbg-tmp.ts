import { listen, connect } from '../lib';
const xorExt = (throws: boolean) => () => ({
  name: 'x-xor', rsv: 0x20, params: { key: '9' } as any,
  offer: () => [{ key: '9' }], accept: () => null, acceptOffer: () => ({ key: '9' }),
  encode: (f: any, sink: any) => sink.next({ ...f, rsv: f.opcode ? f.rsv | 0x20 : f.rsv }),
  decode: (f: any, sink: any) => { if (throws) { console.log('decode throws'); throw new TypeError('bug'); } sink.next({ ...f, rsv: f.rsv & ~0x20 }); },
  dispose() {},
});
const t0 = Date.now();
const l = listen({ host: '127.0.0.1', port: 0, extensions: [xorExt(true) as any] });
l.subscribe((c) => { console.log('server conn'); c.messages$.subscribe({ next: (m) => console.log('msg', m), error: (e) => console.log('server error', e.code, e.message, Date.now() - t0) }); c.closed.then(i => console.log('server closed', i.code, i.error?.code, Date.now() - t0)); });
l.address$.subscribe((a: any) => {
  connect(`ws://127.0.0.1:${a.port}`, { extensions: [xorExt(false) as any] }).subscribe({ next: (c) => { console.log('client open'); c.closed.then((i) => { console.log('client closed', i.code, i.reason, Date.now() - t0); }); c.send('boom'); }, error: () => {} });
});
setTimeout(() => { console.log('timeout'); process.exit(1); }, 13000);
