import { describe, expect, it } from "vitest";
import { regionMessage, scoreTints } from "./region";

describe("regionMessage", () => {
  it("is the point under a click and the ordered box of a drag, as fractions", () => {
    expect(regionMessage([50, 25], [51, 26], 100, 50)).toEqual({
      type: "region",
      point: [0.5, 0.5],
    });
    expect(regionMessage([80, 40], [-10, 10], 100, 50)).toEqual({
      type: "region",
      box: [0, 0.2, 0.8, 0.8],
    });
  });
});

describe("scoreTints", () => {
  it("keeps each score and tints it by the largest, leaves NaN untinted and ignores another image's scores", () => {
    const scores = new Float32Array([NaN, 0.5, 2, -1]);
    const state = {
      scores: {
        data: new DataView(scores.buffer),
        dtype: "float32" as const,
        shape: [4],
      },
      box: [0, 0, 1, 1] as [number, number, number, number],
      image_index: 0,
      mode: "attn",
    };
    const tint = scoreTints(state, 0);
    expect([0, 1, 2, 3].map((p) => tint?.score(p)?.tint ?? null)).toEqual([
      null,
      0.25,
      1,
      0,
    ]);
    expect(tint?.score(3)?.value).toBe(-1);
    expect(tint?.top).toBe(2);
    expect(scoreTints(state, 1)).toBeNull();
    expect(scoreTints({}, 0)).toBeNull();
  });
});
