// The heatmap over the picture, on one canvas, and its colour bar.
import { colorize, cssColor, valueRange, type TableName } from "./colormap";

/** A [h, w] map, row-major. */
export interface Grid {
  values: Float32Array;
  h: number;
  w: number;
}

export interface Look {
  colormap: TableName;
  opacity: number;
  smooth: boolean;
  /** A signed map: the colours span [-m, m], m the largest magnitude, so 0 is the table's middle. */
  centred?: boolean;
}

const MAX_WIDTH = 420;
const MAX_HEIGHT = 420;

/** Canvas size in CSS pixels that fits a width x height picture into the view, keeping its aspect. */
export function fitSize(width: number, height: number): [number, number] {
  const scale = Math.min(MAX_WIDTH / width, MAX_HEIGHT / height);
  return [
    Math.max(1, Math.round(width * scale)),
    Math.max(1, Math.round(height * scale)),
  ];
}

export class Heatmap {
  readonly element: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  /** The canvas's box, positioned: overlays (the region outline) go in it. */
  readonly frame: HTMLElement;
  private readonly bar: HTMLCanvasElement;
  private readonly low: HTMLElement;
  private readonly high: HTMLElement;
  private picture: ImageBitmap | null = null;

  constructor() {
    this.element = document.createElement("div");
    this.element.className = "vlsw-heatmap";
    this.canvas = document.createElement("canvas");
    this.canvas.dataset.testid = "heatmap";
    const legend = document.createElement("div");
    legend.className = "vlsw-colorbar";
    legend.dataset.testid = "colorbar";
    this.bar = document.createElement("canvas");
    this.bar.width = 256;
    this.bar.height = 1;
    this.low = document.createElement("span");
    this.high = document.createElement("span");
    legend.append(this.low, this.bar, this.high);
    this.frame = document.createElement("div");
    this.frame.className = "vlsw-frame";
    this.frame.append(this.canvas);
    this.element.append(this.frame, legend);
  }

  /** The picture under the map and its size in pixels; the map covers the whole picture. */
  setPicture(picture: ImageBitmap | null, width: number, height: number): void {
    this.picture = picture;
    const [cssWidth, cssHeight] = fitSize(width, height);
    const ratio = window.devicePixelRatio || 1;
    this.canvas.style.width = `${cssWidth}px`;
    this.canvas.style.height = `${cssHeight}px`;
    this.canvas.width = Math.round(cssWidth * ratio);
    this.canvas.height = Math.round(cssHeight * ratio);
  }

  /** Draw the picture and `grid` over it; returns the value range the colours span. */
  draw(grid: Grid | null, look: Look): [number, number] {
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return [0, 0];
    const { width, height } = this.canvas;
    ctx.globalAlpha = 1;
    ctx.fillStyle = "#888";
    ctx.fillRect(0, 0, width, height);
    if (this.picture) ctx.drawImage(this.picture, 0, 0, width, height);
    const range: [number, number] = grid ? valueRange(grid.values) : [0, 0];
    if (look.centred) {
      const m = Math.max(Math.abs(range[0]), Math.abs(range[1]));
      range[0] = -m;
      range[1] = m;
    }
    if (grid && grid.h > 0 && grid.w > 0) {
      const cells = document.createElement("canvas");
      cells.width = grid.w;
      cells.height = grid.h;
      cells
        .getContext("2d")
        ?.putImageData(
          new ImageData(
            colorize(grid.values, look.colormap, range),
            grid.w,
            grid.h,
          ),
          0,
          0,
        );
      ctx.imageSmoothingEnabled = look.smooth;
      ctx.globalAlpha = look.opacity;
      ctx.drawImage(cells, 0, 0, width, height);
      ctx.globalAlpha = 1;
      this.canvas.dataset.grid = `${grid.h},${grid.w}`;
    } else {
      delete this.canvas.dataset.grid;
    }
    this.drawBar(look.colormap, grid ? range : null);
    return range;
  }

  private drawBar(colormap: TableName, range: [number, number] | null): void {
    const ctx = this.bar.getContext("2d");
    if (ctx) {
      for (let i = 0; i < 256; i++) {
        ctx.fillStyle = cssColor(colormap, i);
        ctx.fillRect(i, 0, 1, 1);
      }
    }
    this.low.textContent = range ? formatValue(range[0]) : "";
    this.high.textContent = range ? formatValue(range[1]) : "";
    this.element.dataset.min = range ? String(range[0]) : "";
    this.element.dataset.max = range ? String(range[1]) : "";
  }
}

/** A value for the colour bar: 3 significant digits, exponent form when very small or large. */
export function formatValue(value: number): string {
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  return magnitude < 1e-3 || magnitude >= 1e4
    ? value.toExponential(2)
    : value.toPrecision(3);
}
