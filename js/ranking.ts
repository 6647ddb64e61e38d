// Localization heads ranked over a dataset (`lib.rank_localization_heads`): the grid outlines the top heads with
// their rank, and every cell's tooltip says how often its head was selected.
import { decodeFloat32 } from "./codec";
import { headName } from "./headgrid";
import type { HeadRankingInfo } from "./model";

/** "#1 L2H3 40%" for each top head, most frequent first. */
export function rankingSummary(info: HeadRankingInfo): string[] {
  const frequencies = decodeFloat32(info.frequencies);
  const [layers, heads] = frequencies.shape;
  const labels = {
    layers: info.layer_labels ?? [],
    heads: info.head_labels ?? [],
  };
  return info.top.map(
    ([l, k], i) =>
      `#${i + 1} ${headName(l, k, labels, layers, heads)} ${Math.round(frequencies.data[l * heads + k] * 100)}%`,
  );
}

/** Mark the head cells of `grid` (built by HeadGrid) once per build: rank, outline and frequency tooltip. */
export function markRanking(
  grid: HTMLElement,
  info: HeadRankingInfo | Record<string, never>,
): void {
  if (!("top" in info)) return;
  const frequencies = decodeFloat32(info.frequencies);
  const [layers, heads] = frequencies.shape;
  const rank = new Map(info.top.map(([l, k], i) => [`${l},${k}`, i + 1]));
  for (const cell of grid.querySelectorAll<HTMLElement>(
    '[data-testid="head-cell"]:not([data-ranked])',
  )) {
    const l = Number(cell.dataset.layer);
    const k = Number(cell.dataset.head);
    cell.dataset.ranked = "";
    if (l >= layers || k >= heads) continue;
    const share = frequencies.data[l * heads + k];
    const r = rank.get(`${l},${k}`);
    if (r !== undefined) {
      cell.dataset.rank = String(r);
      cell.classList.add("ranked");
    }
    cell.title += ` · ${r !== undefined ? `rank ${r}, ` : ""}selected as a localization head in ${Math.round(share * 100)}% of ${info.samples} maps`;
  }
}
