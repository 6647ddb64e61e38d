// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import {
  detailFromMessage,
  detailIsCurrent,
  headAxes,
  headsGrid,
  pickHeads,
} from "./headpanel";
import type { Model } from "./model";

const message = {
  type: "detail" as const,
  id: 4,
  token: 2,
  mode: "attn",
  image_index: 1,
  // [layers=1, heads=2, h=1, w=2]
  detail: { buffer: 0, dtype: "float32" as const, shape: [1, 2, 1, 2] },
  layer_labels: [5],
  head_labels: [2, 7],
};
const buffers = [new DataView(new Float32Array([1, 2, 3, 6]).buffer)];

describe("head panel", () => {
  it("a click shows one head alone; shift-click adds a head, or removes it when chosen", () => {
    const current: [number, number][] = [
      [0, 1],
      [2, 3],
    ];
    expect(pickHeads(current, 4, 0, false)).toEqual([[4, 0]]);
    expect(pickHeads(current, 4, 0, true)).toEqual([
      [0, 1],
      [2, 3],
      [4, 0],
    ]);
    expect(pickHeads(current, 2, 3, true)).toEqual([[0, 1]]);
    expect(pickHeads([], 0, 0, true)).toEqual([[0, 0]]);
    expect(current).toHaveLength(2);
  });

  it("reads the detail map and its axis labels from the kernel's message", () => {
    const detail = detailFromMessage(message, buffers)!;
    expect(detail.token).toBe(2);
    expect(detail.mode).toBe("attn");
    expect(detail.image).toBe(1);
    expect(detail.map.shape).toEqual([1, 2, 1, 2]);
    expect(detail.labels).toEqual({ layers: [5], heads: [2, 7] });
    expect(headAxes(detail)).toEqual({
      labels: { layers: [5], heads: [2, 7] },
      layers: 1,
      heads: 2,
    });
    expect(headAxes(null)).toBeNull();
  });

  it("has no detail from a message without a map (a refused selection)", () => {
    expect(
      detailFromMessage({ type: "detail", id: 1, token: 2, error: "no" }, []),
    ).toBeNull();
  });

  it("averages the chosen heads into one map", () => {
    const detail = detailFromMessage(message, buffers)!;
    const grid = headsGrid(detail, [
      [0, 0],
      [0, 1],
    ]);
    expect({ ...grid, values: Array.from(grid.values) }).toEqual({
      values: [2, 4],
      h: 1,
      w: 2,
    });
  });

  it("takes the detail as current only for the token, method and image on screen", () => {
    const detail = detailFromMessage(message, buffers)!;
    const state: Record<string, unknown> = { mode: "attn", image_index: 1 };
    const model = { get: (key: string) => state[key] } as unknown as Model;
    expect(detailIsCurrent(detail, 2, model)).toBe(true);
    expect(detailIsCurrent(null, 2, model)).toBe(false);
    expect(detailIsCurrent(detail, 3, model)).toBe(false);
    for (const [key, value] of [
      ["mode", "grad"],
      ["image_index", 0],
    ] as const) {
      const saved = state[key];
      state[key] = value;
      expect(detailIsCurrent(detail, 2, model)).toBe(false);
      state[key] = saved;
    }
  });
});
