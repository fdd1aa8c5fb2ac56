// The picture at the end of a load run: latency percentiles (log scale, with the latency thresholds) and throughput
// over time, as a self-contained SVG drawn by hand (no charting dependency).
import type { LoadReport } from './generator';

const W = 960;
const PANEL_H = 260;
const M = { left: 70, right: 190, top: 72, gap: 60, bottom: 40 };
const PLOT_W = W - M.left - M.right;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (v: number) => (Math.round(v * 10) / 10).toString();

interface Series {
  name: string;
  color: string;
  dash?: string;
  points: [number, number][];
}

function polyline(s: Series, x: (t: number) => number, y: (v: number) => number): string {
  // A gap (NaN: no sample in that bucket) breaks the line.
  const parts: string[][] = [[]];
  for (const [t, v] of s.points) {
    if (!Number.isFinite(v)) {
      if ((parts[parts.length - 1] ?? []).length) parts.push([]);
      continue;
    }
    parts[parts.length - 1]?.push(`${num(x(t))},${num(y(v))}`);
  }
  return parts
    .filter((p) => p.length > 0)
    .map((p) =>
      p.length === 1
        ? `<circle cx="${p[0]?.split(',')[0]}" cy="${p[0]?.split(',')[1]}" r="2" fill="${s.color}"/>`
        : `<polyline fill="none" stroke="${s.color}" stroke-width="1.8"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${p.join(' ')}"/>`,
    )
    .join('\n');
}

function legend(series: Series[], top: number): string {
  return series
    .map((s, i) => {
      const y = top + 14 + i * 18;
      const x = W - M.right + 16;
      return `<line x1="${x}" y1="${y - 4}" x2="${x + 22}" y2="${y - 4}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/><text x="${x + 28}" y="${y}" font-size="12">${esc(s.name)}</text>`;
    })
    .join('\n');
}

/** The SVG document of a run's report. */
export function renderSvg(r: LoadReport, title: string): string {
  const b = r.buckets;
  const tMax = Math.max(1, ...b.map((x) => x.t + 1));
  const x = (t: number) => M.left + (t / tMax) * PLOT_W;
  const out: string[] = [];
  // Panel 1: latency, log scale.
  const top1 = M.top;
  const latSeries: Series[] = [
    { name: 'saga p50', color: '#1f77b4', points: b.map((k) => [k.t, k.saga.p50]) },
    { name: 'saga p95', color: '#ff7f0e', points: b.map((k) => [k.t, k.saga.p95]) },
    { name: 'saga p99', color: '#d62728', points: b.map((k) => [k.t, k.saga.p99]) },
    { name: 'http p50', color: '#1f77b4', dash: '5,3', points: b.map((k) => [k.t, k.http.p50]) },
    { name: 'http p95', color: '#ff7f0e', dash: '5,3', points: b.map((k) => [k.t, k.http.p95]) },
    { name: 'http p99', color: '#d62728', dash: '5,3', points: b.map((k) => [k.t, k.http.p99]) },
  ];
  const latValues = latSeries
    .flatMap((s) => s.points.map((p) => p[1]))
    .filter((v) => Number.isFinite(v) && v > 0);
  const limits = r.thresholds.filter((t) => t.kind === 'latency');
  const lo = Math.pow(10, Math.floor(Math.log10(Math.max(0.1, Math.min(1, ...latValues)))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(10, ...latValues, ...limits.map((t) => t.limit)))));
  const y1 = (v: number) =>
    top1 +
    PANEL_H -
    ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * PANEL_H;
  out.push(
    `<rect x="${M.left}" y="${top1}" width="${PLOT_W}" height="${PANEL_H}" fill="#fafafa" stroke="#999"/>`,
  );
  for (let v = lo; v <= hi; v *= 10) {
    out.push(
      `<line x1="${M.left}" y1="${num(y1(v))}" x2="${M.left + PLOT_W}" y2="${num(y1(v))}" stroke="#ddd"/>`,
      `<text x="${M.left - 6}" y="${num(y1(v) + 4)}" font-size="11" text-anchor="end">${v >= 1000 ? `${v / 1000} s` : `${v} ms`}</text>`,
    );
  }
  for (const t of limits)
    out.push(
      `<line x1="${M.left}" y1="${num(y1(t.limit))}" x2="${M.left + PLOT_W}" y2="${num(y1(t.limit))}" stroke="#900" stroke-dasharray="2,3"/>`,
      `<text x="${M.left + PLOT_W - 4}" y="${num(y1(t.limit) - 4)}" font-size="11" fill="#900" text-anchor="end">${esc(`${t.name} p${t.percentile} < ${t.limit} ms`)}</text>`,
    );
  out.push(...latSeries.map((s) => polyline(s, x, y1)), legend(latSeries, top1));
  out.push(
    `<text x="${M.left}" y="${top1 - 8}" font-size="13" font-weight="bold">latency from the scheduled start (log scale), by start time</text>`,
  );
  // Panel 2: throughput.
  const top2 = top1 + PANEL_H + M.gap;
  const thrSeries: Series[] = [
    { name: 'target rate', color: '#888', dash: '6,3', points: b.map((k) => [k.t, k.target]) },
    { name: 'started/s', color: '#2ca02c', points: b.map((k) => [k.t, k.started]) },
    { name: 'completed/s', color: '#1f77b4', points: b.map((k) => [k.t, k.completed]) },
    { name: 'errors/s', color: '#d62728', points: b.map((k) => [k.t, k.errors]) },
  ];
  const yMax =
    Math.max(1, ...thrSeries.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite)) * 1.1;
  const y2 = (v: number) => top2 + PANEL_H - (v / yMax) * PANEL_H;
  out.push(
    `<rect x="${M.left}" y="${top2}" width="${PLOT_W}" height="${PANEL_H}" fill="#fafafa" stroke="#999"/>`,
  );
  for (let i = 0; i <= 5; i++) {
    const v = (yMax / 5) * i;
    out.push(
      `<line x1="${M.left}" y1="${num(y2(v))}" x2="${M.left + PLOT_W}" y2="${num(y2(v))}" stroke="#ddd"/>`,
      `<text x="${M.left - 6}" y="${num(y2(v) + 4)}" font-size="11" text-anchor="end">${v.toFixed(v < 10 ? 1 : 0)}</text>`,
    );
  }
  out.push(...thrSeries.map((s) => polyline(s, x, y2)), legend(thrSeries, top2));
  out.push(
    `<text x="${M.left}" y="${top2 - 8}" font-size="13" font-weight="bold">operations per second</text>`,
  );
  // Time axis under both panels.
  const ticks = 8;
  for (let i = 0; i <= ticks; i++) {
    const t = (tMax / ticks) * i;
    for (const top of [top1, top2])
      out.push(
        `<text x="${num(x(t))}" y="${top + PANEL_H + 16}" font-size="11" text-anchor="middle">${t.toFixed(t < 10 ? 1 : 0)} s</text>`,
      );
  }
  const h = top2 + PANEL_H + M.bottom;
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : '-');
  const summary = `${r.profile}: ${r.requests} requests, ${(r.errorRate * 100).toFixed(2)}% errors, http p95 ${f(r.http.p95)} ms, saga p95 ${f(r.saga.p95)} ms, ${r.dropped} dropped`;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="sans-serif">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${W}" height="${h}" fill="white"/>`,
    `<text x="${M.left}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="${M.left}" y="40" font-size="12">${esc(summary)}</text>`,
    ...out,
    `</svg>`,
    '',
  ].join('\n');
}
