// Layers x heads small multiples of the selected token's map, before aggregation.
import { chooseScale, colorize, valueRange, type Scale } from "./colormap";
import type { NDArray } from "./codec";
import type { ColormapName, GridScale } from "./model";

/** Mean over the chosen [layer, head] cells of a [L, H, h, w] map: a [h, w] map. */
export function meanOfHeads(
  detail: NDArray<Float32Array>,
  heads: [number, number][],
): Float32Array {
  const [layers, headCount, h, w] = detail.shape;
  const size = h * w;
  const out = new Float32Array(size);
  const chosen = heads.filter(
    ([l, k]) => l >= 0 && l < layers && k >= 0 && k < headCount,
  );
  for (const [l, k] of chosen) {
    const offset = (l * headCount + k) * size;
    for (let i = 0; i < size; i++) out[i] += detail.data[offset + i];
  }
  if (chosen.length > 0) for (let i = 0; i < size; i++) out[i] /= chosen.length;
  return out;
}

export interface HeadGridHandlers {
  pick(layer: number, head: number, extend: boolean): void;
}

const GRID_WIDTH = 480;

interface Shown {
  detail: NDArray<Float32Array>;
  colormap: ColormapName;
  gridScale: GridScale;
  /** The whole map's scale: every cell's with a shared scale; with a scale per head, its kind (diverging when
   * the map has negative values) and the whole range. */
  scale: Scale;
  /** The selected heads, as a key ("l,k;l,k"). */
  selected: string;
}

/** The colour of a cell whose values are all equal: it has nothing to show. */
const FLAT_RGBA = [128, 128, 128, 255];

/**
 * The scale of one head's `values` when each head has its own: from its min to its max, or centred on 0 when the
 * map (`signed`) has negative values; flat when the head is constant.
 */
export function headScale(
  values: Float32Array,
  signed: boolean,
  colormap: ColormapName,
): Scale {
  const range = valueRange(values);
  if (!signed) return chooseScale(range, colormap);
  const m = Math.max(Math.abs(range[0]), Math.abs(range[1]));
  return m > 0
    ? { kind: "diverging", table: "diverging", range: [-m, m] }
    : { kind: "flat", table: colormap, range };
}

/** RGBA pixels of `values` on `scale`; a flat scale paints every pixel grey. */
function paint(
  values: Float32Array,
  scale: Scale,
): Uint8ClampedArray<ArrayBuffer> {
  if (scale.kind !== "flat") return colorize(values, scale.table, scale.range);
  const pixels = new Uint8ClampedArray(values.length * 4);
  for (let i = 0; i < pixels.length; i += 4) pixels.set(FLAT_RGBA, i);
  return pixels;
}

/**
 * Layers x heads small multiples of one map, each head on its own colour scale (where it looks, whatever its
 * strength) or all on one (how strongly each looks). Each cell is an empty canvas element (for
 * clicks, tooltips and outlines) over one shared canvas: a thousand canvases would make every frame of the page slow.
 * Cells are rebuilt only when the shape changes, and painted only once their row scrolls into view;
 * `data-painted` on the grid counts the cells painted for the map on screen.
 */
/** The model's index of each layer and head of a map; empty (or of another length): positions 0.. */
export interface AxisLabels {
  layers: number[];
  heads: number[];
}

function axisLabel(labels: number[], count: number, index: number): number {
  return labels.length === count ? labels[index] : index;
}

/** "L2H3": head `k` of layer `l` of a [layers, heads, ...] map, named by the model's indices. */
export function headName(
  l: number,
  k: number,
  labels: AxisLabels,
  layers: number,
  heads: number,
): string {
  return `L${axisLabel(labels.layers, layers, l)}H${axisLabel(labels.heads, heads, k)}`;
}

export class HeadGrid {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private shape = "";
  private cells: HTMLCanvasElement[] = [];
  private heads = 0;
  private readonly paintedRows = new Set<number>();
  private shown: Shown | null = null;
  /** The last paint found the grid off the page (no layout): paint again at the next draw. */
  private offPage = false;

  constructor(handlers: HeadGridHandlers, signal: AbortSignal) {
    this.element = document.createElement("div");
    this.element.className = "vlsw-head-grid";
    this.element.dataset.testid = "head-grid";
    this.canvas = document.createElement("canvas");
    this.canvas.className = "vlsw-head-canvas";
    this.element.addEventListener(
      "click",
      (event) => {
        const cell = (event.target as HTMLElement).closest<HTMLElement>(
          '[data-testid="head-cell"]',
        );
        if (cell)
          handlers.pick(
            Number(cell.dataset.layer),
            Number(cell.dataset.head),
            event.shiftKey,
          );
      },
      { signal },
    );
    this.element.addEventListener("scroll", () => this.paintInView(), {
      signal,
      passive: true,
    });
  }

  /** Draw `detail` with the `selected` heads outlined; returns the whole map's scale (see `Shown.scale`). */
  draw(
    detail: NDArray<Float32Array>,
    selected: [number, number][],
    colormap: ColormapName,
    gridScale: GridScale,
    labels: AxisLabels = { layers: [], heads: [] },
  ): Scale {
    const [layers, heads, h, w] = detail.shape;
    const chosenKey = selected.join(";");
    const same = this.shown;
    if (
      same?.detail === detail &&
      same.colormap === colormap &&
      same.gridScale === gridScale
    ) {
      if (same.selected !== chosenKey) this.select(selected, heads);
      same.selected = chosenKey;
      // Rows come into view by scrolling (painted then); only a grid that was off the page has rows to paint here.
      if (this.offPage) this.paintInView();
      return same.scale;
    }
    const shape = [...detail.shape, labels.layers, labels.heads].join(",");
    if (this.shape !== shape) this.build(layers, heads, h, w, labels, shape);
    const range = valueRange(detail.data);
    const scale = chooseScale(range, colormap);
    this.shown = { detail, colormap, gridScale, scale, selected: chosenKey };
    this.select(selected, heads);
    this.paintedRows.clear();
    this.paintInView();
    this.element.dataset.range = `${scale.range[0]},${scale.range[1]}`;
    this.element.dataset.scale = gridScale;
    return scale;
  }

  private select(selected: [number, number][], heads: number): void {
    const chosen = new Set(selected.map(([l, k]) => l * heads + k));
    this.cells.forEach((cell, i) =>
      cell.classList.toggle("selected", chosen.has(i)),
    );
  }

  /** Paint the rows whose cells are in the grid's scrolled view, sizing the shared canvas to the grid first. */
  private paintInView(): void {
    if (!this.shown || this.cells.length === 0) return;
    const last = this.cells[this.cells.length - 1];
    const width = last.offsetLeft + last.offsetWidth;
    const height = last.offsetTop + last.offsetHeight;
    this.offPage = width === 0;
    if (this.offPage) return; // not on the page yet: painted once it is drawn again
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
      this.canvas.style.width = `${width}px`;
      this.canvas.style.height = `${height}px`;
      this.paintedRows.clear();
    }
    const top = this.element.scrollTop - 48;
    const bottom = this.element.scrollTop + this.element.clientHeight + 48;
    for (let layer = 0; layer * this.heads < this.cells.length; layer++) {
      const first = this.cells[layer * this.heads];
      const y = first.offsetTop;
      if (y + first.offsetHeight < top) continue;
      if (y > bottom) break;
      this.paintRow(layer);
    }
    this.element.dataset.painted = String(this.paintedRows.size * this.heads);
  }

  private paintRow(layer: number): void {
    if (!this.shown || this.paintedRows.has(layer)) return;
    this.paintedRows.add(layer);
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    const { detail, colormap, gridScale, scale } = this.shown;
    const signed = scale.kind === "diverging";
    const [, heads, h, w] = detail.shape;
    const size = h * w;
    const row = document.createElement("canvas");
    row.width = w * heads;
    row.height = h;
    const rowCtx = row.getContext("2d");
    if (!rowCtx) return;
    for (let k = 0; k < heads; k++) {
      const i = layer * heads + k;
      const values = detail.data.subarray(i * size, (i + 1) * size);
      const own =
        gridScale === "shared" ? scale : headScale(values, signed, colormap);
      rowCtx.putImageData(new ImageData(paint(values, own), w, h), k * w, 0);
    }
    ctx.imageSmoothingEnabled = false;
    for (let k = 0; k < heads; k++) {
      const cell = this.cells[layer * heads + k];
      ctx.drawImage(
        row,
        k * w,
        0,
        w,
        h,
        cell.offsetLeft,
        cell.offsetTop,
        cell.offsetWidth,
        cell.offsetHeight,
      );
    }
  }

  private build(
    layers: number,
    heads: number,
    h: number,
    w: number,
    labels: AxisLabels,
    shape: string,
  ): void {
    this.shape = shape;
    this.heads = heads;
    const cellSize = Math.max(
      12,
      Math.min(48, Math.floor(GRID_WIDTH / heads) - 4),
    );
    this.element.replaceChildren(this.canvas);
    this.element.style.gridTemplateColumns = `auto repeat(${heads}, ${cellSize}px)`;
    this.element.append(document.createElement("span"));
    for (let k = 0; k < heads; k++)
      this.element.append(label(`H${axisLabel(labels.heads, heads, k)}`));
    this.cells = [];
    for (let l = 0; l < layers; l++) {
      this.element.append(label(`L${axisLabel(labels.layers, layers, l)}`));
      for (let k = 0; k < heads; k++) {
        // An empty canvas (no context, no pixels of its own): the shared canvas under it shows the map.
        const cell = document.createElement("canvas");
        cell.width = 0;
        cell.height = 0;
        cell.className = "vlsw-head-cell";
        cell.style.width = `${cellSize}px`;
        cell.style.height = `${Math.round((cellSize * h) / w)}px`;
        cell.dataset.testid = "head-cell";
        cell.dataset.layer = String(l);
        cell.dataset.head = String(k);
        cell.title = `layer ${l}, head ${k} (shift-click to add)`;
        this.cells.push(cell);
        this.element.append(cell);
      }
    }
  }
}

function label(text: string): HTMLElement {
  const span = document.createElement("span");
  span.className = "vlsw-label";
  span.textContent = text;
  return span;
}
