/**
 * The digest chart: rendered end to end (vega-lite → SVG → resvg PNG), with its text really drawn.
 * resvg silently draws no text without a font, so the title's box is compared with a render that
 * has no font at all.
 */
import { describe, expect, it } from 'vitest';
import { chartFontFiles, digestChartSvg, rasteriseChart, renderDigestChart, type DigestChartData } from '../../src/render/chart';

const data: DigestChartData = {
  period: { label: '2026-W48' },
  trend: Array.from({ length: 8 }, (_, i) => ({
    label: `2026-W${41 + i}`,
    rate: i === 2 ? null : { rate: 0.2 + i * 0.05, low: 0.1 + i * 0.03, high: 0.4 + i * 0.05, n: 10 + i },
  })),
  fveNrm: { sae: { median: 0.7, q1: 0.6, q3: 0.8 }, nla: { median: 0.4, q1: 0.2, q3: 0.55 } },
};

/** Dark pixels (all channels under 100, opaque) in a box of the image. */
function darkPixels(image: { pixels: Buffer; width: number }, box: { x0: number; y0: number; x1: number; y1: number }): number {
  let dark = 0;
  for (let y = box.y0; y < box.y1; y++) {
    for (let x = box.x0; x < box.x1; x++) {
      const i = (y * image.width + x) * 4;
      if (image.pixels[i] < 100 && image.pixels[i + 1] < 100 && image.pixels[i + 2] < 100 && image.pixels[i + 3] > 200) dark++;
    }
  }
  return dark;
}

describe('digest chart', () => {
  it('puts the title, the periods and both methods in the SVG', async () => {
    const svg = await digestChartSvg(data);
    expect(svg).toContain('Digest · 2026-W48');
    expect(svg).toContain('W41');
    expect(svg).toContain('W48');
    expect(svg).toContain('SAE');
    expect(svg).toContain('NLA');
    expect(svg).toContain('DejaVu Sans');
  });

  it('draws the text: the title box is dark with the font and blank without one', async () => {
    const svg = await digestChartSvg(data);
    const withFont = await rasteriseChart(svg);
    const noFont = await rasteriseChart(svg, { fontFiles: [] });
    expect(withFont.width).toBe(noFont.width);
    // The title sits alone at the top left, above both plots (padding 16 px, zoom 1.5).
    const title = { x0: 0, y0: 0, x1: Math.round(withFont.width / 3), y1: 60 };
    expect(darkPixels(withFont, title)).toBeGreaterThan(800);
    expect(darkPixels(noFont, title)).toBe(0);
  });

  it('renders a PNG, and the product path draws the same image as the font render', async () => {
    const png = await renderDigestChart(data);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const withFont = await rasteriseChart(await digestChartSvg(data));
    expect(png.equals(withFont.png)).toBe(true);
  });

  it('draws an empty period and a period with no fve_nrm without failing', async () => {
    const empty: DigestChartData = { period: { label: '2026-W40' }, trend: data.trend.map((t) => ({ ...t, rate: null })), fveNrm: { sae: null, nla: null } };
    const png = await renderDigestChart(empty);
    expect(png.length).toBeGreaterThan(1000);
  });

  it('finds the shipped DejaVu font files', () => {
    for (const file of chartFontFiles()) expect(file).toMatch(/DejaVuSans(-Bold)?\.ttf$/);
  });
});
