// "Save PNG": the heatmap as shown, with its colour bar and range, the legend of its signs and a caption (token,
// position, method, aggregation or heads), downloaded as a PNG file that says what it shows without the widget.
import { formatValue, type Heatmap } from "./heatmap";

/** Height in pixels of the colour bar strip under the map. */
export const BAR_HEIGHT = 24;
/** Height in pixels of one line of text under it. */
export const LINE_HEIGHT = 18;
const MARGIN = 6;

/** The download's file name: `saliency-position-12-attn.png`. */
export function pngName(token: number, mode: string): string {
  return `saliency-position-${token}-${mode.replace(/[^\w.-]+/g, "_")}.png`;
}

/** What the picture says under the map: the caption, and the legend or note line ("" for none). */
export interface PngText {
  caption: string;
  legend: string;
}

/** `text` broken into lines no wider than `width` pixels as `ctx` measures them. */
export function wrapText(
  ctx: Pick<CanvasRenderingContext2D, "measureText">,
  text: string,
  width: number,
): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    const candidate = line ? `${line} ${word}` : word;
    if (line && ctx.measureText(candidate).width > width) {
      lines.push(line);
      line = word;
    } else {
      line = candidate;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * The map's canvas; under it the colour bar with its low and high values (none for a constant map, which is drawn
 * without colours), then `text`'s legend and caption lines; null without a 2D context.
 */
export function composePng(
  heatmap: Heatmap,
  text: PngText,
): HTMLCanvasElement | null {
  const source = heatmap.canvas;
  const out = document.createElement("canvas");
  const measure = out.getContext("2d");
  if (!measure) return null;
  measure.font = "12px sans-serif";
  const lines = [text.legend, text.caption]
    .filter((line) => line !== "")
    .flatMap((line) => wrapText(measure, line, source.width - 2 * MARGIN));
  const withBar = heatmap.scale !== null && heatmap.scale.kind !== "flat";
  const barHeight = withBar ? BAR_HEIGHT : 0;
  out.width = source.width;
  out.height = source.height + barHeight + lines.length * LINE_HEIGHT + MARGIN;
  const ctx = out.getContext("2d");
  if (!ctx) return null;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(source, 0, 0);
  ctx.fillStyle = "#000";
  ctx.font = "12px sans-serif";
  ctx.textBaseline = "middle";
  if (withBar) {
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(
      heatmap.colorbar,
      60,
      source.height + MARGIN,
      out.width - 120,
      BAR_HEIGHT - 2 * MARGIN,
    );
    const y = source.height + BAR_HEIGHT / 2;
    ctx.textAlign = "left";
    ctx.fillText(formatValue(Number(heatmap.element.dataset.min)), 4, y);
    ctx.textAlign = "right";
    ctx.fillText(
      formatValue(Number(heatmap.element.dataset.max)),
      out.width - 4,
      y,
    );
  }
  ctx.textAlign = "left";
  lines.forEach((line, i) =>
    ctx.fillText(
      line,
      MARGIN,
      source.height + barHeight + (i + 0.5) * LINE_HEIGHT + MARGIN / 2,
    ),
  );
  return out;
}

/** Download the heatmap with `text` as `fileName` (nothing happens where the canvas has no 2D context). */
export function savePng(
  heatmap: Heatmap,
  text: PngText,
  fileName: string,
): void {
  const out = composePng(heatmap, text);
  if (!out) return;
  const link = document.createElement("a");
  link.download = fileName;
  link.href = out.toDataURL("image/png");
  link.click();
}
