/** The simulation's plot as hand-written SVG: one panel per metric, instances on a log2 axis, a line per policy and load. */
import type { PolicyMode } from '../../src/cluster/policy.js';
import type { SimResult } from './simulate.js';

type Row = SimResult & { n: number; load: number; mode: PolicyMode };

const COLORS: Record<PolicyMode, string> = {
  consolidate: '#1b7837',
  'least-loaded': '#2166ac',
  'round-robin': '#b2182b',
};

const PANELS: { title: string; value: (r: Row) => number }[] = [
  { title: 'busy instances / instances', value: (r) => r.busyInstances / r.n },
  { title: 'output tokens/s per instance', value: (r) => r.outputTokensPerSecond / r.n },
  { title: 'p99 latency (s)', value: (r) => r.latencyP99 },
];

export function lineChartsSvg(rows: readonly Row[], sizes: number[], loads: number[], modes: PolicyMode[]): string {
  const w = 300;
  const h = 220;
  const pad = { l: 48, r: 12, t: 28, b: 36 };
  const out: string[] = [];
  PANELS.forEach((p, pi) => {
    const x0 = pi * (w + 20);
    const vals = rows.map(p.value).filter(Number.isFinite);
    const ymax = Math.max(...vals) * 1.08 || 1;
    const xs = (n: number) =>
      x0 +
      pad.l +
      ((Math.log2(n) - Math.log2(sizes[0]!)) / (Math.log2(sizes.at(-1)!) - Math.log2(sizes[0]!))) * (w - pad.l - pad.r);
    const ys = (v: number) => pad.t + (1 - v / ymax) * (h - pad.t - pad.b);
    out.push(`<text x="${x0 + w / 2}" y="16" text-anchor="middle" font-weight="bold">${p.title}</text>`);
    out.push(`<line x1="${x0 + pad.l}" y1="${h - pad.b}" x2="${x0 + w - pad.r}" y2="${h - pad.b}" stroke="#444"/>`);
    out.push(`<line x1="${x0 + pad.l}" y1="${pad.t}" x2="${x0 + pad.l}" y2="${h - pad.b}" stroke="#444"/>`);
    for (const n of sizes) out.push(`<text x="${xs(n)}" y="${h - pad.b + 14}" text-anchor="middle">${n}</text>`);
    out.push(`<text x="${x0 + w / 2}" y="${h - 6}" text-anchor="middle">instances</text>`);
    for (let k = 0; k <= 4; k++) {
      const v = (ymax * k) / 4;
      out.push(
        `<text x="${x0 + pad.l - 4}" y="${ys(v) + 4}" text-anchor="end">${v < 10 ? v.toFixed(2) : v.toFixed(0)}</text>`,
      );
      out.push(`<line x1="${x0 + pad.l}" y1="${ys(v)}" x2="${x0 + w - pad.r}" y2="${ys(v)}" stroke="#ddd"/>`);
    }
    for (const mode of modes)
      for (const load of loads) {
        const pts = sizes
          .map((n) => rows.find((r) => r.n === n && r.mode === mode && r.load === load))
          .filter((r): r is Row => !!r && Number.isFinite(p.value(r)))
          .map((r) => `${xs(r.n).toFixed(1)},${ys(p.value(r)).toFixed(1)}`);
        const dash = load === loads[0] ? '' : ' stroke-dasharray="5 3"';
        out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${COLORS[mode]}" stroke-width="2"${dash}/>`);
      }
  });
  const legend = modes.map(
    (m, i) =>
      `<line x1="${20 + i * 170}" y1="${h + 14}" x2="${44 + i * 170}" y2="${h + 14}" stroke="${COLORS[m]}" stroke-width="3"/><text x="${50 + i * 170}" y="${h + 18}">${m}</text>`,
  );
  legend.push(
    `<text x="${20 + modes.length * 170}" y="${h + 18}">solid: load ${loads[0]}, dashed: load ${loads.at(-1)}</text>`,
  );
  const width = PANELS.length * (w + 20);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h + 30}" font-family="sans-serif" font-size="11">\n<rect width="100%" height="100%" fill="white"/>\n${[...out, ...legend].join('\n')}\n</svg>\n`;
}
