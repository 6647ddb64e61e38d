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
}

/**
 * One small canvas per (layer, head), all on one colour scale; the cells are rebuilt only when the shape changes,
 * and a cell is painted only once it scrolls into view (32 x 32 heads paint a few rows, not 1,024 canvases).
 * `data-painted` on the grid counts the cells painted for the map on screen.
 */
export class HeadGrid {
  readonly element: HTMLElement;
  private shape = "";
  private cells: HTMLCanvasElement[] = [];
  private readonly indexOf = new Map<Element, number>();
  private readonly visible = new Set<number>();
  private readonly painted = new Set<number>();
  private readonly observer: IntersectionObserver | null;
  private shown: Shown | null = null;

  constructor(handlers: HeadGridHandlers, signal: AbortSignal) {
    this.element = document.createElement("div");
    this.element.className = "vlsw-head-grid";
    this.element.dataset.testid = "head-grid";
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
    this.observer =
      typeof IntersectionObserver === "undefined"
        ? null
        : new IntersectionObserver((entries) => this.onScroll(entries), {
            root: this.element,
            rootMargin: "48px",
          });
    signal.addEventListener("abort", () => this.observer?.disconnect());
  }

  draw(
    detail: NDArray<Float32Array>,
    selected: [number, number][],
    colormap: ColormapName,
  ): void {
    const [layers, heads, h, w] = detail.shape;
    if (this.shape !== detail.shape.join(",")) this.build(layers, heads, h, w);
    const range = valueRange(detail.data);
    this.shown = { detail, colormap, range };
    this.painted.clear();
    const chosen = new Set(selected.map(([l, k]) => l * heads + k));
    this.cells.forEach((cell, i) =>
      cell.classList.toggle("selected", chosen.has(i)),
    );
    const inView = this.observer ? this.visible : this.cells.keys();
    for (const i of inView) this.paint(i);
    this.element.dataset.range = `${range[0]},${range[1]}`;
  }

  private onScroll(entries: IntersectionObserverEntry[]): void {
    for (const entry of entries) {
      const i = this.indexOf.get(entry.target);
      if (i === undefined) continue;
      if (entry.isIntersecting) {
        this.visible.add(i);
        this.paint(i);
      } else {
        this.visible.delete(i);
      }
    }
  }

  private paint(i: number): void {
    if (!this.shown || this.painted.has(i)) return;
    const { detail, colormap, range } = this.shown;
    const [, , h, w] = detail.shape;
    const size = h * w;
    const values = detail.data.subarray(i * size, (i + 1) * size);
    this.cells[i]
      .getContext("2d")
      ?.putImageData(
        new ImageData(colorize(values, colormap, range), w, h),
        0,
        0,
      );
    this.painted.add(i);
    this.element.dataset.painted = String(this.painted.size);
  }

  private build(layers: number, heads: number, h: number, w: number): void {
    this.shape = [layers, heads, h, w].join(",");
    const cellSize = Math.max(
      12,
      Math.min(48, Math.floor(GRID_WIDTH / heads) - 4),
    );
    this.observer?.disconnect();
    this.visible.clear();
    this.indexOf.clear();
    this.element.replaceChildren();
    this.element.style.gridTemplateColumns = `auto repeat(${heads}, ${cellSize}px)`;
    this.element.append(document.createElement("span"));
    for (let k = 0; k < heads; k++) this.element.append(label(`H${k}`));
    this.cells = [];
    for (let l = 0; l < layers; l++) {
      this.element.append(label(`L${l}`));
      for (let k = 0; k < heads; k++) {
        const cell = document.createElement("canvas");
        cell.width = w;
        cell.height = h;
        cell.style.width = `${cellSize}px`;
        cell.style.height = `${Math.round((cellSize * h) / w)}px`;
        cell.dataset.testid = "head-cell";
        cell.dataset.layer = String(l);
        cell.dataset.head = String(k);
        cell.title = `layer ${l}, head ${k} (shift-click to add)`;
        this.indexOf.set(cell, this.cells.length);
        this.cells.push(cell);
        this.element.append(cell);
        this.observer?.observe(cell);
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
