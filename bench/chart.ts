/**
 * The SVG chart of a bench/run.ts result (hand-written SVG, no dependencies):
 * one panel per workload, one bar per implementation, each panel on its own
 * scale, values and ratios to `ws` written on the bars.
 *
 *   node dist/bench/chart.js bench/results/latest.json > bench/results/chart.svg   # re-render
 */
import fs from 'node:fs';

/** The parts of latest.json the chart reads. */
export interface ChartData {
  date: string;
  commit: string;
  lib_modified?: boolean;
  node: string;
  quick: boolean;
  machine?: { cpus: number; cpu_model?: string };
  server?: {
    workloads?: Record<string, string>;
    summary?: Record<string, Record<string, number | boolean | null>>;
  };
  client?: {
    connections?: number;
    messages_per_connection?: number;
    summary?: Record<string, { msgs_per_s: number }>;
  };
  micro?: { results?: { bench: string; impl: string; mb_per_s: number; frames_per_s: number }[] };
  deflate?: { size?: number; msgs_per_s?: Record<string, number> };
  memory?: { connections?: number; rows?: { server: string; heap_bytes_per_connection: number }[] };
}

interface Bar {
  name: string;
  value: number;
  ok?: boolean;
}

interface Panel {
  title: string;
  subtitle: string;
  unit: string;
  lowerIsBetter: boolean;
  /** The bar the ratios are taken against ('ws' unless told). */
  base: string;
  bars: Bar[];
}

const COLORS: Record<string, string> = {
  'ws-rx': '#e4572e',
  ws: '#4c78a8',
  'ws +bufferutil': '#72a0c8',
  'ws-noaddons': '#72a0c8',
  'node-min': '#54a24b',
  'handle-min': '#9ccf8c',
  wsecho: '#8c8c8c',
};
const OTHER = '#b279a2';

function color(name: string): string {
  if (COLORS[name]) return COLORS[name];
  if (name.startsWith('ws-rx')) return COLORS['ws-rx'];
  if (name.includes('bufferutil')) return COLORS['ws +bufferutil'];
  if (name.startsWith('ws ')) return COLORS.ws;
  return OTHER;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e5) return `${Math.round(x / 1e3)} k`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)} k`;
  if (x >= 100) return Math.round(x).toString();
  return x.toFixed(1);
}

/** Panels in display order; empty panels are left out. */
export function panels(d: ChartData): Panel[] {
  const out: Panel[] = [];
  const order = ['ws-rx', 'ws', 'ws-noaddons', 'node-min', 'handle-min', 'wsecho'];
  const servers = Object.keys(d.server?.summary ?? {}).sort(
    (a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99) || a.localeCompare(b),
  );
  const wl = d.server?.workloads ?? {};
  const serverPanel = (title: string, key: string, okKey: string, unit: string, lower: boolean, workload: string): void => {
    const bars = servers
      .map((s) => ({ name: s, value: Number(d.server!.summary![s][key]), ok: d.server!.summary![s][okKey] !== false }))
      .filter((b) => Number.isFinite(b.value) && b.value > 0);
    if (bars.length) out.push({ title, subtitle: `wsload ${wl[workload] ?? ''}`, unit, lowerIsBetter: lower, base: 'ws', bars });
  };
  serverPanel('seed: total time', 'seed_total_ms', 'seed_ok', 'ms', true, 'seed');
  serverPanel('small: throughput', 'small_msgs_per_s', 'small_ok', 'msgs/s', false, 'small');
  serverPanel('large: throughput', 'large_mb_per_s', 'large_ok', 'MB/s', false, 'large');
  serverPanel('seed: server peak RSS', 'seed_peak_rss_mb', 'seed_ok', 'MB', true, 'seed');

  const memory = d.memory?.rows ?? [];
  if (memory.length) {
    out.push({
      title: 'memory: heap per idle connection',
      subtitle: `bench/memory.ts: V8 heap growth / connections, ${d.memory?.connections ?? ''} open (after full GCs)`,
      unit: 'bytes',
      lowerIsBetter: true,
      base: 'ws',
      bars: memory.map((r) => ({ name: r.server, value: r.heap_bytes_per_connection })),
    });
  }

  const client = d.client?.summary;
  if (client) {
    const bars = Object.entries(client)
      .map(([name, s]) => ({ name, value: s.msgs_per_s }))
      .filter((b) => Number.isFinite(b.value) && b.value > 0);
    if (bars.length) {
      out.push({
        title: 'client side: the bench client',
        subtitle: `examples/bench, bench/ws-client, bench/node-min-client (--handle): ${d.client?.connections} x ${d.client?.messages_per_connection} vs wsecho`,
        unit: 'msgs/s',
        lowerIsBetter: false,
        base: 'ws',
        bars,
      });
    }
  }

  const micro = d.micro?.results ?? [];
  const short = (impl: string): string =>
    impl.startsWith('ws-rx')
      ? 'ws-rx'
      : impl.startsWith('JS 32-bit')
        ? 'ws-rx JS loop'
        : impl.includes('bufferutil')
          ? 'ws +bufferutil'
          : 'ws';
  const kinds: Record<string, { title: string; subtitle: string; perFrame: boolean }> = {
    parse: { title: 'parser', subtitle: 'FrameParser vs Receiver, masked text frames, server role', perFrame: false },
    write: { title: 'writer', subtitle: 'FrameWriter vs Sender.frame, server frames, per frame', perFrame: true },
    send: { title: 'send', subtitle: 'message to socket: WebSocketProtocol vs Sender.send, one counting socket', perFrame: false },
    decode: { title: 'decode', subtitle: "text message to string: decodeText vs Buffer toString('utf8'), a ws user's way", perFrame: false },
    unmask: { title: 'unmask', subtitle: 'XOR in place: applyMask vs ws unmask', perFrame: false },
  };
  for (const bench of [...new Set(micro.map((r) => r.bench))]) {
    const verb = bench.split(' ')[0];
    const kind = kinds[verb] ?? { title: verb, subtitle: 'bench/micro.ts', perFrame: false };
    const rows = micro.filter((r) => r.bench === bench);
    const bars = rows.map((r) => ({ name: short(r.impl), value: kind.perFrame ? r.frames_per_s : r.mb_per_s }));
    out.push({
      title: `${kind.title}: ${bench.slice(verb.length + 1)}`,
      subtitle: kind.subtitle,
      unit: kind.perFrame ? 'frames/s' : 'MB/s',
      lowerIsBetter: false,
      base: bars.some((b) => b.name === 'ws') ? 'ws' : 'ws +bufferutil',
      bars,
    });
  }

  const deflate = d.deflate?.msgs_per_s;
  if (deflate && Object.keys(deflate).length) {
    const sides: [string, string][] = [
      ['server, light client', 'server side, light client'],
      ['client, light server', 'client side, light server'],
      ['server', 'server side, ws clients'],
      ['client', 'client side, ws server'],
    ];
    for (const [side, title] of sides) {
      const bars = ['ws-rx', 'ws'].filter((k) => deflate[`${k} ${side}`] > 0).map((k) => ({ name: k, value: deflate[`${k} ${side}`] }));
      if (bars.length) {
        out.push({
          title: `deflate: ${title}`,
          subtitle: `${d.deflate?.size ?? ''} B text, permessage-deflate on both ends (bench/deflate.ts)`,
          unit: 'msgs/s',
          lowerIsBetter: false,
          base: 'ws',
          bars,
        });
      }
    }
  }
  return out;
}

const WIDTH = 980;
const COLS = 2;
const GAP = 20;
const PANEL_W = (WIDTH - GAP * (COLS + 1)) / COLS;
const LABEL_W = 110;
const BAR_H = 18;
const BAR_GAP = 6;
const HEAD = 40;

function panelHeight(p: Panel): number {
  return HEAD + p.bars.length * (BAR_H + BAR_GAP) + 8;
}

function renderPanel(p: Panel, x: number, y: number): string {
  const parts: string[] = [];
  const h = panelHeight(p);
  parts.push(`<rect x="${x}" y="${y}" width="${PANEL_W}" height="${h}" rx="6" fill="#fafafa" stroke="#e0e0e0"/>`);
  parts.push(
    `<text x="${x + 10}" y="${y + 17}" font-size="13" font-weight="bold">${esc(p.title)} <tspan font-weight="normal" fill="#666">(${esc(p.unit)}, ${p.lowerIsBetter ? 'lower' : 'higher'} is better)</tspan></text>`,
  );
  parts.push(`<text x="${x + 10}" y="${y + 32}" font-size="10.5" fill="#777">${esc(p.subtitle)}</text>`);
  const max = Math.max(...p.bars.map((b) => b.value));
  const base = p.bars.find((b) => b.name === p.base)?.value;
  const barMax = PANEL_W - LABEL_W - 20;
  p.bars.forEach((b, i) => {
    const by = y + HEAD + i * (BAR_H + BAR_GAP);
    const w = Math.max(2, (b.value / max) * barMax);
    const bold = b.name.startsWith('ws-rx') ? ' font-weight="bold"' : '';
    parts.push(`<text x="${x + LABEL_W - 6}" y="${by + 13}" font-size="11" text-anchor="end"${bold}>${esc(b.name)}</text>`);
    parts.push(`<rect x="${x + LABEL_W}" y="${by}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${color(b.name)}"${b.ok === false ? ' fill-opacity="0.35"' : ''}/>`);
    let label = fmt(b.value);
    if (base && b.name !== p.base) label += ` · ${(b.value / base).toFixed(2)}× ${p.base}`;
    if (b.ok === false) label += '  (errors)';
    // Inside the bar when it is long enough, else after it.
    const inside = w > barMax * 0.6;
    parts.push(
      `<text x="${x + LABEL_W + (inside ? w - 5 : w + 5)}" y="${by + 13}" font-size="11" text-anchor="${inside ? 'end' : 'start'}" fill="${inside ? '#fff' : '#333'}">${esc(label)}</text>`,
    );
  });
  return parts.join('\n');
}

/** The whole SVG document. */
export function renderChart(d: ChartData): string {
  const ps = panels(d);
  const body: string[] = [];
  let y = 56;
  for (let i = 0; i < ps.length; i += COLS) {
    const row = ps.slice(i, i + COLS);
    row.forEach((p, j) => body.push(renderPanel(p, GAP + j * (PANEL_W + GAP), y)));
    y += Math.max(...row.map(panelHeight)) + GAP;
  }
  const height = y + 24;
  const title = `ws-rx benchmarks${d.quick ? ' (quick run)' : ''}`;
  const sub =
    `${d.date.slice(0, 16).replace('T', ' ')} UTC, commit ${d.commit}${d.lib_modified ? ' + uncommitted lib/ changes' : ''}, ` +
    `node ${d.node}, ${d.machine?.cpus ?? '?'} cores (shared): compare ratios within this run, not absolute numbers`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${GAP}" y="26" font-size="18" font-weight="bold">${esc(title)}</text>`,
    `<text x="${GAP}" y="44" font-size="11" fill="#555">${esc(sub)}</text>`,
    ...body,
    `<text x="${GAP}" y="${height - 10}" font-size="10" fill="#888">npm run bench (bench/run.ts); server rows: ../shared/bench/run.sh (C client wsload); faded bars: the run had errors</text>`,
    `</svg>`,
    '',
  ].join('\n');
}

if (require.main === module) {
  const file = process.argv[2] ?? 'bench/results/latest.json';
  process.stdout.write(renderChart(JSON.parse(fs.readFileSync(file, 'utf8')) as ChartData));
}
