// The caption under the heatmap: which token is shown, by which method, aggregated how (or which heads), compared
// with what, and the value range the colours span; and the one line that says why a constant map shows nothing.
// Pure functions of the state, so every case is easy to test.
import type { Scale } from "./colormap";
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
  /** The scale the map is drawn on (its range is what the colours span), null without a map. */
  scale: Scale | null;
  /** The kernel's error, "" when none. */
  error: string;
  /** Whether a kernel can compute a missing map (false in an exported page). */
  live: boolean;
}

/** A token's text, quoted: `" cat"`. */
export function quoteToken(text: readonly string[], position: number) {
  return JSON.stringify(text[position] ?? "");
}

/** "L4H3, L8H0": the `heads`, named by the model's indices where `axes` has them, else by position. */
export function headNames(
  heads: readonly [number, number][],
  axes: HeadAxes | null,
): string {
  return heads
    .map(([l, k]) =>
      axes
        ? headName(l, k, axes.labels, axes.layers, axes.heads)
        : `L${l}H${k}`,
    )
    .join(", ");
}

/** "0.5 to 1.00", or "0 everywhere" for a constant map. */
function values(scale: Scale | null): string {
  if (!scale) return "no values";
  const [low, high] = scale.range;
  return scale.kind === "flat"
    ? `${formatValue(low)} everywhere`
    : `${formatValue(low)} to ${formatValue(high)}`;
}

/** The caption's text for `state`. */
export function captionText(state: CaptionState): string {
  const { shown, source, mode, heads, compareToken: against } = state;
  const what =
    source === "heads" || (source === "compare" && heads.length > 0)
      ? `heads ${headNames(heads, state.axes)}`
      : `${state.layerReduce} over layers, ${state.headReduce} over heads`;
  const named = (position: number) =>
    `${quoteToken(state.text, position)} (position ${position})`;
  const text =
    source === "compare" && against !== null
      ? `${named(shown)} minus ${named(against)}`
      : named(shown);
  if (source === "pending") {
    const missing = state.error
      ? "no map (see the error above)"
      : state.live
        ? `not computed for ${mode} yet: click to compute`
        : `not in this page for ${mode} (the page holds the maps computed before it was saved)`;
    return `${text}: ${missing}`;
  }
  return `${text} · ${mode} · ${what} · ${values(state.scale)}`;
}

/** Where the shown map comes from, for `flatNote`. */
export interface FlatState {
  source: Source;
  /** The constant value of the map. */
  value: number;
  /** Whether the shown token comes before the image the map covers (nothing before an image can attend to it). */
  beforeImage: boolean;
}

/** The line under a constant map, which is drawn without colours: why it is constant, as far as the view knows. */
export function flatNote(state: FlatState): string {
  if (state.source === "compare")
    return "the two maps are the same: their difference is zero everywhere";
  if (state.value === 0 && state.beforeImage)
    return "this token comes before the image: its map is zero";
  if (state.value === 0)
    return "this map is zero everywhere: there is nothing to show";
  return `this map is ${formatValue(state.value)} everywhere: no place stands out`;
}
