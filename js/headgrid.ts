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

/** Draw one small canvas per (layer, head), all on one colour scale; rebuilt only when the shape changes. */
export class HeadGrid {
  readonly element: HTMLElement;
  private shape = "";
  private cells: HTMLCanvasElement[] = [];

  constructor(
    private readonly handlers: HeadGridHandlers,
    private readonly signal: AbortSignal,
  ) {
    this.element = document.createElement("div");
    this.element.className = "vlsw-head-grid";
    this.element.dataset.testid = "head-grid";
  }

  draw(
    detail: NDArray<Float32Array>,
    selected: [number, number][],
    colormap: ColormapName,
  ): void {
    const [layers, heads, h, w] = detail.shape;
    if (this.shape !== detail.shape.join(",")) this.build(layers, heads, h, w);
    const range = valueRange(detail.data);
    const size = h * w;
    this.cells.forEach((cell, i) => {
      const values = detail.data.subarray(i * size, (i + 1) * size);
      cell
        .getContext("2d")
        ?.putImageData(
          new ImageData(colorize(values, colormap, range), w, h),
          0,
          0,
        );
      const layer = Math.floor(i / heads);
      const head = i % heads;
      cell.classList.toggle(
        "selected",
        selected.some(([l, k]) => l === layer && k === head),
      );
    });
    this.element.dataset.range = `${range[0]},${range[1]}`;
  }

  private build(layers: number, heads: number, h: number, w: number): void {
    this.shape = [layers, heads, h, w].join(",");
    const cellSize = Math.max(
      12,
      Math.min(48, Math.floor(GRID_WIDTH / heads) - 4),
    );
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
        cell.addEventListener(
          "click",
          (event) => this.handlers.pick(l, k, event.shiftKey),
          {
            signal: this.signal,
          },
        );
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
