// The caption under the heatmap: which token is shown, by which method, aggregated how (or which heads), compared
// with what, and the value range the colours span. A pure function of the state, so every case is easy to test.
import { headName, type AxisLabels } from "./headgrid";
import { formatValue } from "./heatmap";
import type { Reduction } from "./model";

/** Where the map on screen comes from (also the heatmap's `data-source`). */
export type Source = "compare" | "heads" | "hover" | "selection" | "pending";

/** The layers and heads of the detail map the heads are named from (see `headName`). */
export interface HeadAxes {
  labels: AxisLabels;
  layers: number;
  heads: number;
}

export interface CaptionState {
  /** Per position, the token's text as it reads (`TokenInfo.text`). */
  text: readonly string[];
  /** The position whose map is shown (the hovered token while hovering). */
  shown: number;
  source: Source;
  mode: string;
  layerReduce: Reduction;
  headReduce: Reduction;
  /** The selected [layer, head] cells; empty: the aggregate over all heads. */
  heads: readonly [number, number][];
  /** How to name the heads; null before the kernel sent a detail map: "L{layer}H{head}" by position. */
  axes: HeadAxes | null;
  compareToken: number | null;
  /** The value range the colours span. */
  range: [number, number];
  /** The kernel's error, "" when none. */
  error: string;
  /** Whether a kernel can compute a missing map. */
  kernel: boolean;
}

/** A token's text, quoted: `" cat"`. */
export function quoteToken(text: readonly string[], position: number) {
  return JSON.stringify(text[position] ?? "");
}

function headNames(state: CaptionState): string {
  return state.heads
    .map(([l, k]) =>
      state.axes
        ? headName(l, k, state.axes.labels, state.axes.layers, state.axes.heads)
        : `L${l}H${k}`,
    )
    .join(", ");
}

/** The caption's text for `state`. */
export function captionText(state: CaptionState): string {
  const { shown, source, mode, heads, compareToken: against } = state;
  const what =
    source === "heads" || (source === "compare" && heads.length > 0)
      ? `heads ${headNames(state)}`
      : `${state.layerReduce} over layers, ${state.headReduce} over heads`;
  const quoted = (position: number) => quoteToken(state.text, position);
  const text =
    source === "compare" && against !== null
      ? `${quoted(shown)} minus ${quoted(against)} (position ${against}),`
      : quoted(shown);
  if (source === "pending") {
    const missing = state.error
      ? "no map (see the error above)"
      : `not computed for ${mode} yet${state.kernel ? ": click to compute" : ""}`;
    return `${text} (position ${shown}): ${missing}`;
  }
  const [low, high] = state.range;
  return `${text} (position ${shown}) · ${mode} · ${what} · ${formatValue(low)} to ${formatValue(high)}`;
}
