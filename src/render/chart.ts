/**
 * The digest chart: a vega-lite spec, compiled to vega, drawn to SVG by vega's headless view, and
 * rasterised to PNG by resvg.
 *
 * resvg draws no text at all when it has no font, and says nothing. So the font is loaded
 * explicitly from the `dejavu-fonts-ttf` package (installed by npm ci, free licence), system
 * fonts are never consulted (the chart looks the same on every host), and a missing font file
 * stops the render with an error rather than producing a chart without words.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export interface ChartRate {
  rate: number;
  low: number;
  high: number;
  n: number;
}

export interface ChartQuartiles {
  median: number;
  q1: number;
  q3: number;
}

/** What the chart draws; a core Digest has this shape. */
export interface DigestChartData {
  period: { label: string };
  trend: Array<{ label: string; rate: ChartRate | null }>;
  fveNrm: { sae: ChartQuartiles | null; nla: ChartQuartiles | null };
}

export const CHART_FONT_FAMILY = 'DejaVu Sans';

/** The DejaVu Sans regular and bold files shipped by the dejavu-fonts-ttf package. */
export function chartFontFiles(): string[] {
  const root = path.dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json'));
  const files = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((f) => path.join(root, 'ttf', f));
  for (const file of files) {
    if (!existsSync(file)) throw new Error(`The chart font ${file} is missing; run npm ci to install the dejavu-fonts-ttf package.`);
  }
  return files;
}

const shortLabel = (label: string) => label.replace(/^\d{4}-(?=W)/, '');

/** The vega-lite spec: the rate by period with its 95% band, beside the two fve_nrm boxes. */
export function digestChartSpec(data: DigestChartData): Record<string, unknown> {
  const trend = data.trend.map((t) => ({
    period: shortLabel(t.label),
    rate: t.rate?.rate ?? null,
    low: t.rate?.low ?? null,
    high: t.rate?.high ?? null,
    n: t.rate?.n ?? 0,
  }));
  const boxes = (['sae', 'nla'] as const)
    .filter((m) => data.fveNrm[m] !== null)
    .map((m) => ({ method: m.toUpperCase(), ...data.fveNrm[m]! }));
  const order = trend.map((t) => t.period);
  const rateChart = {
    width: 420,
    height: 220,
    title: 'Confabulation rate (95% Wilson interval)',
    data: { values: trend },
    encoding: { x: { field: 'period', type: 'ordinal', sort: order, title: null, axis: { labelAngle: 0 } } },
    layer: [
      {
        mark: { type: 'area', opacity: 0.25, color: '#d62728' },
        encoding: { y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' } },
      },
      {
        mark: { type: 'rule', color: '#d62728', opacity: 0.6 },
        encoding: { y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' } },
      },
      {
        mark: { type: 'line', point: { color: '#d62728' }, color: '#d62728' },
        encoding: {
          y: { field: 'rate', type: 'quantitative', title: 'confabulated', scale: { domain: [0, 1] }, axis: { format: '.0%' } },
        },
      },
    ],
  };
  const fveChart = {
    width: 180,
    height: 220,
    title: 'fve_nrm (median, IQR)',
    data: { values: boxes.length ? boxes : [{ method: 'SAE' }, { method: 'NLA' }] },
    encoding: { x: { field: 'method', type: 'nominal', sort: ['SAE', 'NLA'], title: null, axis: { labelAngle: 0 } } },
    layer: [
      {
        mark: { type: 'bar', size: 40, opacity: 0.6 },
        encoding: {
          y: { field: 'q1', type: 'quantitative', title: 'fve_nrm', scale: { zero: false } },
          y2: { field: 'q3' },
          color: { field: 'method', type: 'nominal', scale: { domain: ['SAE', 'NLA'], range: ['#1f77b4', '#ff7f0e'] }, legend: null },
        },
      },
      { mark: { type: 'tick', size: 40, thickness: 3, color: '#222' }, encoding: { y: { field: 'median', type: 'quantitative' } } },
    ],
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `Digest · ${data.period.label}`, fontSize: 18, anchor: 'start' },
    background: 'white',
    padding: 16,
    config: { font: CHART_FONT_FAMILY, view: { stroke: null } },
    hconcat: [rateChart, fveChart],
  };
}

/** The chart as SVG text. */
export async function digestChartSvg(data: DigestChartData): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  const compiled = vegaLite.compile(digestChartSpec(data) as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface RenderPngOptions {
  /** Font files to draw text with; default DejaVu Sans. An empty list draws no text (the tests' control). */
  fontFiles?: string[];
}

/** The chart rasterised: PNG bytes, and the RGBA pixels the tests inspect. */
export async function rasteriseChart(svg: string, options: RenderPngOptions = {}): Promise<{ png: Buffer; pixels: Buffer; width: number; height: number }> {
  const { Resvg } = await import('@resvg/resvg-js');
  const resvg = new Resvg(svg, {
    font: { fontFiles: options.fontFiles ?? chartFontFiles(), loadSystemFonts: false, defaultFontFamily: CHART_FONT_FAMILY },
    fitTo: { mode: 'zoom', value: 1.5 },
  });
  const image = resvg.render();
  return { png: image.asPng(), pixels: image.pixels, width: image.width, height: image.height };
}

/** The chart as a PNG. */
export async function renderDigestChart(data: DigestChartData, options: RenderPngOptions = {}): Promise<Buffer> {
  return (await rasteriseChart(await digestChartSvg(data), options)).png;
}
