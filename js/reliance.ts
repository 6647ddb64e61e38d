// What the answer relies on (README, "What the answer relies on"): the reliance bar under each answer token, the
// selected token's share of attention on the image per layer, and its attribution to the earlier text tokens.
// The kernel computes the numbers (`reliance` and `focus` traits, vl_saliency_widget/widget/reliance.py); this
// module turns them into the strip's marks, a small chart and the legends.
import { decode } from "./codec";
import { element, setText } from "./dom";
import { formatValue } from "./heatmap";
import type { Focus, RelianceInfo } from "./model";

/** One answer token's reliance: nats its log-probability loses when the picture is hidden, the bar's length in
 * [0, 1] (over the largest loss or gain) and whether it counts as coming from the image. */
export interface RelianceMark {
  delta: number;
  withImage: number;
  withoutImage: number;
  length: number;
  fromImage: boolean;
}

/** A token's attribution from the selected token and its tint in [0, 1] (over the largest). */
export interface AttributionMark {
  value: number;
  tint: number;
}

/** Per position, the reliance mark (null where the token is not scored) and the largest |delta| in nats; null
 * without a `reliance` trait. */
export function relianceMarks(
  info: RelianceInfo | Record<string, never>,
): { mark: (position: number) => RelianceMark | null; top: number } | null {
  if (!("delta" in info)) return null;
  const delta = decode(info.delta).data;
  const withImage = decode(info.with_image).data;
  const withoutImage = decode(info.without_image).data;
  const fromImage = decode(info.from_image).data;
  let top = 0;
  for (const value of delta)
    if (Number.isFinite(value)) top = Math.max(top, Math.abs(value));
  const mark = (position: number): RelianceMark | null => {
    const value = delta[position];
    if (value === undefined || !Number.isFinite(value)) return null;
    return {
      delta: value,
      withImage: withImage[position],
      withoutImage: withoutImage[position],
      length: top > 0 ? Math.abs(value) / top : 0,
      fromImage: fromImage[position] === 1,
    };
  };
  return { mark, top };
}

/** A reliance mark in words, for a token's tooltip. */
export function relianceText(mark: RelianceMark): string {
  const words =
    mark.delta >= 0
      ? `${formatValue(mark.delta)} nats lost without it`
      : `${formatValue(-mark.delta)} nats gained without it`;
  return `relies on the image: ${words} (log p ${formatValue(mark.withImage)} with, ${formatValue(mark.withoutImage)} without); from the image: ${mark.fromImage ? "yes" : "no"}`;
}

/** Per position, the selected token's attribution to it, tinted over the largest value; null when `focus` holds
 * none for `token`. */
export function attributionMarks(
  focus: Focus | Record<string, never>,
  token: number,
): { mark: (position: number) => AttributionMark | null; top: number } | null {
  if (!("attribution" in focus) || !focus.attribution || focus.token !== token)
    return null;
  const values = decode(focus.attribution).data;
  let top = 0;
  for (const value of values)
    if (Number.isFinite(value)) top = Math.max(top, value);
  return {
    top,
    mark: (position) => {
      const value = values[position];
      if (value === undefined || !Number.isFinite(value)) return null;
      return { value, tint: top > 0 ? Math.max(0, value) / top : 0 };
    },
  };
}

/** The selected token's image share per layer (mean over heads) with the layers' labels, or null. */
export function imageShare(
  focus: Focus | Record<string, never>,
  token: number,
): { values: number[]; labels: number[] } | null {
  if (!("image_share" in focus) || !focus.image_share || focus.token !== token)
    return null;
  const values = Array.from(decode(focus.image_share).data);
  const labels = focus.layer_labels ?? values.map((_, i) => i);
  return { values, labels };
}

export interface ShareChart {
  element: HTMLElement;
  /** Draw the share of `label`'s attention on the image per layer, or hide the chart (null). */
  show(
    share: { values: number[]; labels: number[] } | null,
    label: string,
  ): void;
}

/** A small bar chart: one bar per layer, its height the share in [0, 1]. */
export function createShareChart(): ShareChart {
  const root = element("div", "vlsw-share");
  root.dataset.testid = "image-share";
  const title = element("div", "vlsw-share-title");
  const bars = element("div", "vlsw-share-bars");
  bars.setAttribute("role", "img");
  const axis = element("div", "vlsw-share-axis");
  root.append(title, bars, axis);
  let drawn = "";
  return {
    element: root,
    show(share, label) {
      root.hidden = share === null;
      if (share === null) return;
      setText(
        title,
        `share of the attention of ${label} on the image, per layer (mean over heads, 0..1)`,
      );
      const key = `${label}|${share.values.join(",")}`;
      if (key === drawn) return;
      drawn = key;
      bars.replaceChildren(
        ...share.values.map((value, i) => {
          const bar = element("div", "vlsw-share-bar");
          bar.dataset.testid = "share-bar";
          bar.dataset.layer = String(share.labels[i]);
          bar.dataset.value = value.toFixed(4);
          const clamped = Math.min(1, Math.max(0, value));
          bar.style.height = `${(clamped * 100).toFixed(1)}%`;
          bar.title = `layer ${share.labels[i]}: ${formatValue(value)} of the attention on the image`;
          return bar;
        }),
      );
      bars.setAttribute(
        "aria-label",
        share.values
          .map((value, i) => `layer ${share.labels[i]} ${value.toFixed(2)}`)
          .join(", "),
      );
      const first = share.labels[0];
      const last = share.labels[share.labels.length - 1];
      setText(
        axis,
        share.labels.length > 1 ? `layer ${first} … ${last}` : `layer ${first}`,
      );
    },
  };
}
