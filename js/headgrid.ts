// Layers x heads small multiples of the selected token's map, before aggregation.
import { colorize, valueRange } from "./colormap";
import type { NDArray } from "./codec";
import type { ColormapName } from "./model";

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
  range: [number, number];
  /** The selected heads, as a key ("l,k;l,k"). */
  selected: string;
}

/**
 * Layers x heads small multiples of one map, all on one colour scale. Each cell is an empty canvas element (for
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

  draw(
    detail: NDArray<Float32Array>,
    selected: [number, number][],
    colormap: ColormapName,
    labels: AxisLabels = { layers: [], heads: [] },
  ): void {
    const [layers, heads, h, w] = detail.shape;
    const chosenKey = selected.join(";");
    const same = this.shown;
    if (same?.detail === detail && same.colormap === colormap) {
      if (same.selected !== chosenKey) this.select(selected, heads);
      same.selected = chosenKey;
      this.paintInView(); // paints only rows not painted yet (none, unless the grid was off the page)
      return;
    }
    const shape = [...detail.shape, labels.layers, labels.heads].join(",");
    if (this.shape !== shape) this.build(layers, heads, h, w, labels, shape);
    const range = valueRange(detail.data);
    this.shown = { detail, colormap, range, selected: chosenKey };
    this.select(selected, heads);
    this.paintedRows.clear();
    this.paintInView();
    this.element.dataset.range = `${range[0]},${range[1]}`;
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
    if (width === 0) return; // not on the page yet: painted once it is drawn again
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
    const { detail, colormap, range } = this.shown;
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
      rowCtx.putImageData(
        new ImageData(colorize(values, colormap, range), w, h),
        k * w,
        0,
      );
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
