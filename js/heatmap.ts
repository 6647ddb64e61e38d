// The heatmap over the picture, on one canvas, and its colour bar. The scale follows the values (colormap.ts's
// chooseScale): a map with negative values on the diverging table centred on 0, a constant map not drawn at all.
import {
  barCanvas,
  chooseScale,
  colorize,
  paintBar,
  valueRange,
  type Scale,
} from "./colormap";
import { setText } from "./dom";
import type { ColormapName } from "./model";

/** A [h, w] map, row-major. */
export interface Grid {
  values: Float32Array;
  h: number;
  w: number;
}

export interface Look {
  /** The sequential table for maps without negative values. */
  colormap: ColormapName;
  opacity: number;
  smooth: boolean;
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
  private readonly legend: HTMLElement;
  private readonly low: HTMLElement;
  private readonly middle: HTMLElement;
  private readonly high: HTMLElement;
  private picture: ImageBitmap | null = null;
  /** The scale of the map drawn last, null without one. */
  scale: Scale | null = null;

  constructor() {
    this.element = document.createElement("div");
    this.element.className = "vlsw-heatmap";
    this.canvas = document.createElement("canvas");
    this.canvas.dataset.testid = "heatmap";
    this.legend = document.createElement("div");
    this.legend.className = "vlsw-colorbar";
    this.legend.dataset.testid = "colorbar";
    this.bar = barCanvas();
    const ticks = document.createElement("div");
    ticks.className = "vlsw-ticks";
    this.low = document.createElement("span");
    this.middle = document.createElement("span");
    this.high = document.createElement("span");
    ticks.append(this.low, this.middle, this.high);
    this.legend.append(this.bar, ticks);
    this.frame = document.createElement("div");
    this.frame.className = "vlsw-frame";
    this.frame.append(this.canvas);
    this.element.append(this.frame, this.legend);
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

  /** Draw the picture and `grid` over it on the scale its values call for (none for a constant map); returns
   * that scale, or null without a grid. */
  draw(grid: Grid | null, look: Look): Scale | null {
    const ctx = this.canvas.getContext("2d");
    const scale =
      grid && grid.h > 0 && grid.w > 0
        ? chooseScale(valueRange(grid.values), look.colormap)
        : null;
    this.scale = scale;
    if (grid) this.canvas.dataset.grid = `${grid.h},${grid.w}`;
    else delete this.canvas.dataset.grid;
    this.canvas.dataset.scale = scale?.kind ?? "";
    this.drawBar(scale);
    if (!ctx) return scale;
    const { width, height } = this.canvas;
    ctx.globalAlpha = 1;
    ctx.fillStyle = "#888";
    ctx.fillRect(0, 0, width, height);
    if (this.picture) ctx.drawImage(this.picture, 0, 0, width, height);
    if (grid && scale && scale.kind !== "flat") {
      const cells = document.createElement("canvas");
      cells.width = grid.w;
      cells.height = grid.h;
      cells
        .getContext("2d")
        ?.putImageData(
          new ImageData(
            colorize(grid.values, scale.table, scale.range),
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
    }
    return scale;
  }

  private drawBar(scale: Scale | null): void {
    this.legend.hidden = scale === null || scale.kind === "flat";
    this.legend.dataset.scale = scale?.kind ?? "";
    paintBar(this.bar, scale?.table ?? "gray");
    const range = scale?.range ?? null;
    setText(this.low, range ? formatValue(range[0]) : "");
    setText(this.middle, scale?.kind === "diverging" ? "0" : "");
    setText(this.high, range ? formatValue(range[1]) : "");
    this.element.dataset.min = range ? String(range[0]) : "";
    this.element.dataset.max = range ? String(range[1]) : "";
  }

  /** The colour bar's canvas (Save PNG draws it). */
  get colorbar(): HTMLCanvasElement {
    return this.bar;
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
