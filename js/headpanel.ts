// The layers x heads side of the view, bound to the `heads` and `grid_scale` traits: the detail map the kernel sent
// for the selected token, the grid of its heads (click: one head alone, shift-click: add or remove a head), the
// choice of one scale per head or one for all and its legend, "back to aggregate", and the localization-head summary.
import { quoteToken, type HeadAxes } from "./caption";
import { decodeFloat32, type NDArray } from "./codec";
import { barCanvas, paintBar, type Scale } from "./colormap";
import { element, setText } from "./dom";
import { type AxisLabels, HeadGrid, meanOfHeads } from "./headgrid";
import { formatValue, type Grid } from "./heatmap";
import {
  update,
  type GridScale,
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

/** Whether `detail` is the map of what the view shows now: the selected `token`, the model's method and image. */
export function detailIsCurrent(
  detail: Detail | null,
  token: number,
  model: Model,
): boolean {
  return (
    detail !== null &&
    detail.token === token &&
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

export interface HeadPanelState {
  /** The selected token. */
  token: number;
  /** The kernel's detail map, when it is the selected token's (`current`). */
  detail: Detail | null;
  current: boolean;
  /** Why the selected token has no detail map here (an exported page), "" when it may come. */
  missing: string;
  /** Per position, the token's text (the panel's title names the token it shows). */
  text: readonly string[];
  /** The hovered token when it is not the selected one: the grid stays on the selection and says so. */
  hover: number | null;
}

export interface HeadPanel {
  element: HTMLElement;
  /** Draw the selected token's detail when it is current; otherwise say it is loading or why it is missing. */
  show(state: HeadPanelState): void;
}

const SCALE_CHOICES: [GridScale, string, string][] = [
  [
    "head",
    "each head",
    "each head on its own scale: where every head looks, whatever its strength",
  ],
  ["shared", "one scale", "one scale for every head: which heads look hardest"],
];

/** What the legend under the grid says about `scale` (the whole map's, see HeadGrid.draw) with `choice`. */
export function gridLegend(choice: GridScale, scale: Scale): string {
  if (scale.kind === "flat")
    return `every head is ${formatValue(scale.range[0])} everywhere: nothing to show`;
  const signed = scale.kind === "diverging";
  const span = signed
    ? "centred on 0 (blue < 0 < red), out to its largest magnitude"
    : "from its lowest to its highest value";
  return choice === "head"
    ? `each head on its own scale, ${span}: compare where heads look, not how strongly; grey: a constant head`
    : `one scale for every head${signed ? ", centred on 0 (blue < 0 < red)" : ""}: ${formatValue(scale.range[0])} to ${formatValue(scale.range[1])}`;
}

export function createHeadPanel(model: Model, signal: AbortSignal): HeadPanel {
  const root = element("div", "vlsw-right");
  const header = element("div", "vlsw-grid-header");
  const title = element("div", "vlsw-grid-title");
  title.dataset.testid = "grid-title";
  const choices = element("div", "vlsw-segmented");
  choices.setAttribute("role", "group");
  choices.setAttribute("aria-label", "grid colour scale");
  choices.dataset.testid = "grid-scale";
  const choiceButtons = SCALE_CHOICES.map(([value, label, tip]) => {
    const choice = element("button", "vlsw-button", label);
    choice.type = "button";
    choice.dataset.value = value;
    choice.title = tip;
    choice.addEventListener(
      "click",
      () => update(model, { grid_scale: value }),
      { signal },
    );
    return choice;
  });
  choices.append(...choiceButtons);
  const aggregate = element("button", "vlsw-button", "back to aggregate");
  aggregate.type = "button";
  aggregate.dataset.testid = "aggregate";
  aggregate.addEventListener("click", () => update(model, { heads: [] }), {
    signal,
  });
  header.append(title, choices, aggregate);
  const grid = new HeadGrid(
    {
      pick: (layer, head, extend) =>
        update(model, {
          heads: pickHeads(model.get("heads"), layer, head, extend),
        }),
    },
    signal,
  );
  const legend = element("div", "vlsw-grid-legend");
  legend.dataset.testid = "grid-legend";
  const bar = barCanvas();
  const legendText = element("span", "");
  legend.append(bar, legendText);
  const note = element("div", "vlsw-note");
  note.dataset.testid = "grid-note";
  const rankingNote = element("div", "vlsw-note");
  rankingNote.dataset.testid = "head-ranking";
  const ranking = model.get("head_ranking") ?? {};
  rankingNote.hidden = !("top" in ranking);
  if ("top" in ranking)
    rankingNote.textContent = `localization heads: ${rankingSummary(ranking as HeadRankingInfo).join(", ")}`;
  root.append(header, grid.element, legend, note, rankingNote);

  return {
    element: root,
    show({ token, detail, current, missing, text, hover }) {
      const heads = model.get("heads");
      const choice = model.get("grid_scale");
      setText(
        title,
        `layers × heads of ${quoteToken(text, token)} (position ${token})`,
      );
      for (const button of choiceButtons) {
        const pressed = String(button.dataset.value === choice);
        if (button.getAttribute("aria-pressed") !== pressed)
          button.setAttribute("aria-pressed", pressed);
      }
      const drawn = current && detail !== null;
      grid.element.hidden = !drawn;
      legend.hidden = !drawn;
      choices.hidden = !drawn;
      grid.element.classList.toggle("stale", drawn && hover !== null);
      if (current && detail) {
        const scale = grid.draw(
          detail.map,
          heads,
          model.get("colormap"),
          choice,
          detail.labels,
        );
        markRanking(grid.element, model.get("head_ranking") ?? {});
        paintBar(bar, scale.kind === "flat" ? "gray" : scale.table);
        bar.hidden = scale.kind === "flat";
        setText(legendText, gridLegend(choice, scale));
        setText(
          note,
          hover !== null
            ? `hovering ${quoteToken(text, hover)}: the grid stays on the selected token; click to see its heads`
            : "click a head to show it alone; shift-click to add heads",
        );
      } else {
        setText(note, missing || "loading…");
      }
      aggregate.disabled = heads.length === 0;
    },
  };
}
