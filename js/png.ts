// "Save PNG": the heatmap as shown, with its colour bar and value range under it, downloaded as a PNG file.
import { formatValue, type Heatmap } from "./heatmap";

/** Height in pixels of the colour bar strip under the map. */
export const BAR_HEIGHT = 24;

/** The download's file name: `saliency-position-12-attn.png`. */
export function pngName(token: number, mode: string): string {
  return `saliency-position-${token}-${mode}.png`;
}

/** The map's canvas with the colour bar and its low and high values drawn under it; null without a 2D context. */
export function composePng(heatmap: Heatmap): HTMLCanvasElement | null {
  const source = heatmap.canvas;
  const out = document.createElement("canvas");
  out.width = source.width;
  out.height = source.height + BAR_HEIGHT;
  const ctx = out.getContext("2d");
  if (!ctx) return null;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(source, 0, 0);
  const bar = heatmap.element.querySelector(
    ".vlsw-colorbar canvas",
  ) as HTMLCanvasElement;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(bar, 60, source.height + 6, out.width - 120, BAR_HEIGHT - 12);
  ctx.fillStyle = "#000";
  ctx.font = "12px sans-serif";
  ctx.textBaseline = "middle";
  ctx.fillText(
    formatValue(Number(heatmap.element.dataset.min)),
    4,
    source.height + BAR_HEIGHT / 2,
  );
  ctx.textAlign = "right";
  ctx.fillText(
    formatValue(Number(heatmap.element.dataset.max)),
    out.width - 4,
    source.height + BAR_HEIGHT / 2,
  );
  return out;
}

/** Download the heatmap as `fileName` (nothing happens where the canvas has no 2D context). */
export function savePng(heatmap: Heatmap, fileName: string): void {
  const out = composePng(heatmap);
  if (!out) return;
  const link = document.createElement("a");
  link.download = fileName;
  link.href = out.toDataURL("image/png");
  link.click();
}
