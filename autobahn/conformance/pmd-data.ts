/**
 * Deterministic test data for the permessage-deflate cases (12.x, 13.x).
 *
 * Autobahn ships five files (`testdata/`: a JSON file, lena512.bmp, Goethe's
 * Faust I from Project Gutenberg, an HTML file and a PDF). We do not copy
 * them; we generate data of the same kinds and similar sizes and
 * compressibility from a seeded PRNG, so every run sends the same bytes.
 * Text data sets are pure ASCII, so any slice of them is valid UTF-8 (the
 * cases send arbitrary slices, as Autobahn does).
 *
 * @packageDocumentation
 */

/** A test data set (Autobahn's `WS_COMPRESSION_TESTDATA`). */
export interface PmdDataSet {
  desc: string;
  /** Sent as binary (Autobahn sends Faust, lena and the PDF as binary). */
  binary: boolean;
  data: () => Buffer;
}

/** xorshift32, seeded. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

function lazy(make: () => Buffer): () => Buffer {
  let b: Buffer | null = null;
  return () => (b ??= make());
}

const WORDS_EN = 'alpha beta gamma delta epsilon value name id type status created updated owner tags count price enabled region latitude longitude description'.split(' ');

/** ~190 KB of JSON: an array of records (ASCII). */
function jsonData(): Buffer {
  const r = prng(0x12345);
  const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)];
  const recs: string[] = [];
  let size = 2;
  for (let i = 0; size < 194056; i++) {
    const rec = JSON.stringify({
      id: i,
      guid: Math.floor(r() * 0xffffffff).toString(16).padStart(8, '0') + '-' + Math.floor(r() * 0xffff).toString(16),
      isActive: r() < 0.5,
      balance: `$${(r() * 4000).toFixed(2)}`,
      age: 20 + Math.floor(r() * 40),
      name: `${pick(WORDS_EN)} ${pick(WORDS_EN)}`,
      tags: [pick(WORDS_EN), pick(WORDS_EN), pick(WORDS_EN)],
      latitude: (r() * 180 - 90).toFixed(6),
      longitude: (r() * 360 - 180).toFixed(6),
      about: Array.from({ length: 8 + Math.floor(r() * 12) }, () => pick(WORDS_EN)).join(' '),
    });
    recs.push(rec);
    size += rec.length + 2;
  }
  return Buffer.from(`[\n${recs.join(',\n')}\n]`, 'latin1');
}

/** A 512x512 8-bit grayscale BMP (263222 bytes, like lena512.bmp): smooth shapes plus noise. */
function bmpData(): Buffer {
  const r = prng(0xbeef);
  const w = 512;
  const h = 512;
  const paletteSize = 256 * 4;
  const off = 14 + 40 + paletteSize;
  const b = Buffer.alloc(off + w * h);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(off, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(w, 18);
  b.writeInt32LE(h, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(8, 28);
  b.writeUInt32LE(w * h, 34);
  b.writeUInt32LE(256, 46);
  for (let i = 0; i < 256; i++) b.writeUInt32LE(i * 0x010101, 54 + i * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const v = 128 + 60 * Math.sin(x / 37) * Math.cos(y / 23) + 40 * Math.sin((x + y) / 71) + (r() - 0.5) * 24;
      b[off + y * w + x] = Math.max(0, Math.min(255, Math.round(v)));
    }
  return b;
}

const WORDS_DE =
  'Ihr naht euch wieder schwankende Gestalten die früh sich einst dem trüben Blick gezeigt Versuch ich wohl euch diesmal festzuhalten Fühl ich mein Herz noch jenem Wahn geneigt Habe nun ach Philosophie Juristerei und Medizin und leider auch Theologie durchaus studiert mit heißem Bemühn Da steh ich nun ich armer Tor und bin so klug als wie zuvor Mephistopheles Faust Gretchen Wagner Der Herr Nacht Straße Garten Kerker Zueignung Vorspiel auf dem Theater Prolog im Himmel'.split(
    ' ',
  );

/** ~220 KB of German verse-like UTF-8 text (umlauts, ß), sent as binary like Autobahn's Faust. */
function faustData(): Buffer {
  const r = prng(0xfa057);
  const lines: string[] = [];
  let size = 0;
  while (size < 222218) {
    let line: string;
    if (r() < 0.08) line = `\n${WORDS_DE[Math.floor(r() * WORDS_DE.length)].toUpperCase()}:`;
    else line = Array.from({ length: 4 + Math.floor(r() * 7) }, () => WORDS_DE[Math.floor(r() * WORDS_DE.length)]).join(' ') + (r() < 0.3 ? '!' : r() < 0.5 ? ',' : '.');
    lines.push(line);
    size += Buffer.byteLength(line) + 1;
  }
  return Buffer.from(lines.join('\n'), 'utf8');
}

/** ~200 KB of HTML (ASCII). */
function htmlData(): Buffer {
  const r = prng(0x4747);
  const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)];
  const parts = ['<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Data</title>\n<link rel="stylesheet" href="/static/site.css"></head>\n<body>\n<table class="data">\n'];
  let size = parts[0].length;
  for (let i = 0; size < 200000; i++) {
    const row = `<tr id="row-${i}" class="${pick(['odd', 'even', 'hl'])}"><td><a href="/item/${Math.floor(r() * 1e6)}">${pick(WORDS_EN)} ${pick(WORDS_EN)}</a></td><td class="num">${(r() * 1000).toFixed(2)}</td><td>${Array.from({ length: 3 + Math.floor(r() * 6) }, () => pick(WORDS_EN)).join(' ')}</td></tr>\n`;
    parts.push(row);
    size += row.length;
  }
  parts.push('</table>\n</body>\n</html>\n');
  return Buffer.from(parts.join(''), 'latin1');
}

/** ~512 KB PDF-like data: text objects interleaved with incompressible (already compressed) streams. */
function pdfData(): Buffer {
  const r = prng(0x9df);
  const chunks: Buffer[] = [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let size = chunks[0].length;
  for (let obj = 1; size < 524288; obj++) {
    if (r() < 0.5) {
      const n = 512 + Math.floor(r() * 4096);
      const bin = Buffer.alloc(n);
      for (let i = 0; i < n; i++) bin[i] = Math.floor(r() * 256);
      const c = Buffer.concat([Buffer.from(`${obj} 0 obj\n<< /Length ${n} /Filter /FlateDecode >>\nstream\n`, 'latin1'), bin, Buffer.from('\nendstream\nendobj\n', 'latin1')]);
      chunks.push(c);
      size += c.length;
    } else {
      const t = `${obj} 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents ${obj + 1} 0 R /Resources << /Font << /F1 5 0 R >> >> >>\nendobj\nBT /F1 ${8 + Math.floor(r() * 10)} Tf ${Math.floor(r() * 600)} ${Math.floor(r() * 800)} Td (${Array.from({ length: 10 }, () => WORDS_EN[Math.floor(r() * WORDS_EN.length)]).join(' ')}) Tj ET\n`;
      chunks.push(Buffer.from(t, 'latin1'));
      size += t.length;
    }
  }
  chunks.push(Buffer.from('trailer\n<< /Root 1 0 R >>\n%%EOF\n', 'latin1'));
  return Buffer.concat(chunks);
}

/** The five data sets in Autobahn's report order (12.1-12.5). */
export const PMD_DATA_SETS: PmdDataSet[] = [
  { desc: 'Large JSON data file (generated)', binary: false, data: lazy(jsonData) },
  { desc: 'Bitmap 512x512 8-bit grayscale (generated, like lena512.bmp)', binary: true, data: lazy(bmpData) },
  { desc: "Human readable German text (generated, like Goethe's Faust I)", binary: true, data: lazy(faustData) },
  { desc: 'Large HTML file (generated)', binary: false, data: lazy(htmlData) },
  { desc: 'A larger PDF (generated)', binary: true, data: lazy(pdfData) },
];
