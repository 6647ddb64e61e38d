// The layers x heads side of the view, bound to the `heads` trait: the detail map the kernel sent for the selected
// token, the grid of its heads (click: one head alone, shift-click: add or remove a head), "back to aggregate",
// and the localization-head summary.
import { decodeFloat32, type NDArray } from "./codec";
import { element } from "./dom";
import { type AxisLabels, HeadGrid, meanOfHeads } from "./headgrid";
import type { HeadAxes } from "./caption";
import type { Grid } from "./heatmap";
import {
  update,
  type HeadRankingInfo,
  type KernelMessage,
  type Model,
} from "./model";
import { markRanking, rankingSummary } from "./ranking";

/** The kernel's [layers, heads, h, w] map of one token, for one method and image. */
export interface Detail {
  token: number;
  mode: string;
  image: number;
  map: NDArray<Float32Array>;
  labels: AxisLabels;
}

/** The detail a "detail" message carries, or null where it carries none (an error, or no map). */
export function detailFromMessage(
  message: Extract<KernelMessage, { type: "detail" }>,
  buffers: DataView[],
): Detail | null {
  if (
    !message.detail ||
    message.mode === undefined ||
    message.image_index === undefined
  )
    return null;
  return {
    token: message.token,
    mode: message.mode,
    image: message.image_index,
    map: decodeFloat32({
      ...message.detail,
      data: buffers[message.detail.buffer],
    }),
    labels: {
      layers: message.layer_labels ?? [],
      heads: message.head_labels ?? [],
    },
  };
}

/** Whether `detail` is the map of what the model shows now: same token, method and image. */
export function detailIsCurrent(detail: Detail | null, model: Model): boolean {
  return (
    detail !== null &&
    detail.token === model.get("token") &&
    detail.mode === model.get("mode") &&
    detail.image === model.get("image_index")
  );
}

/** The mean of the selected heads of `detail`, as one [h, w] map. */
export function headsGrid(detail: Detail, heads: [number, number][]): Grid {
  const [, , h, w] = detail.map.shape;
  return { values: meanOfHeads(detail.map, heads), h, w };
}

/** What names the heads of `detail` (for the caption); null without a detail. */
export function headAxes(detail: Detail | null): HeadAxes | null {
  return detail
    ? {
        labels: detail.labels,
        layers: detail.map.shape[0],
        heads: detail.map.shape[1],
      }
    : null;
}

/** The heads after a click on [layer, head]: that head alone, or with `extend` (shift) that head added or removed. */
export function pickHeads(
  current: readonly [number, number][],
  layer: number,
  head: number,
  extend: boolean,
): [number, number][] {
  if (!extend) return [[layer, head]];
  const has = current.some(([l, k]) => l === layer && k === head);
  return has
    ? current.filter(([l, k]) => l !== layer || k !== head)
    : [...current, [layer, head]];
}

export interface HeadPanel {
  element: HTMLElement;
  /** Draw `detail` when it is current; otherwise say it is loading (or, without a kernel, that it needs one). */
  show(detail: Detail | null, current: boolean): void;
}

export function createHeadPanel(
  model: Model,
  kernel: boolean,
  signal: AbortSignal,
): HeadPanel {
  const root = element("div", "vlsw-right");
  const header = element("div", "vlsw-grid-header", "layers × heads ");
  const aggregate = element("button", "vlsw-button", "back to aggregate");
  aggregate.type = "button";
  aggregate.dataset.testid = "aggregate";
  aggregate.addEventListener("click", () => update(model, { heads: [] }), {
    signal,
  });
  header.append(aggregate);
  const grid = new HeadGrid(
    {
      pick: (layer, head, extend) =>
        update(model, {
          heads: pickHeads(model.get("heads"), layer, head, extend),
        }),
    },
    signal,
  );
  const note = element("div", "vlsw-note");
  const rankingNote = element("div", "vlsw-note");
  rankingNote.dataset.testid = "head-ranking";
  const ranking = model.get("head_ranking") ?? {};
  rankingNote.hidden = !("top" in ranking);
  if ("top" in ranking)
    rankingNote.textContent = `localization heads: ${rankingSummary(ranking as HeadRankingInfo).join(", ")}`;
  root.append(header, grid.element, note, rankingNote);

  return {
    element: root,
    show(detail, current) {
      const heads = model.get("heads");
      if (!kernel) {
        grid.element.hidden = true;
        aggregate.hidden = true;
        note.textContent = "The layers × heads grid needs a running kernel.";
      } else if (current && detail) {
        grid.element.hidden = false;
        note.textContent =
          "click a head to show it alone; shift-click to add heads";
        grid.draw(detail.map, heads, model.get("colormap"), detail.labels);
        markRanking(grid.element, model.get("head_ranking") ?? {});
      } else {
        note.textContent = "loading…";
      }
      aggregate.disabled = heads.length === 0;
    },
  };
}
