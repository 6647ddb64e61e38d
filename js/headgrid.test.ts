import { describe, expect, it } from "vitest";
import { headName, meanOfHeads } from "./headgrid";

describe("meanOfHeads", () => {
  // [layers=2, heads=2, h=1, w=2]: cell (l, k) holds [10 * l + k, -(10 * l + k)].
  const data = new Float32Array([0, -0, 1, -1, 10, -10, 11, -11]);
  const detail = { data, shape: [2, 2, 1, 2] };

  it("shows one head alone", () => {
    expect(Array.from(meanOfHeads(detail, [[1, 0]]))).toEqual([10, -10]);
  });

  it("averages several heads", () => {
    expect(
      Array.from(
        meanOfHeads(detail, [
          [0, 1],
          [1, 1],
        ]),
      ),
    ).toEqual([6, -6]);
  });

  it("ignores heads the map does not have", () => {
    expect(
      Array.from(
        meanOfHeads(detail, [
          [0, 0],
          [5, 0],
        ]),
      ),
    ).toEqual([0, 0]);
  });
});

describe("headName", () => {
  const labels = { layers: [3, 7], heads: [1, 5] };

  it("names a head by the model's indices when the map keeps every captured layer and head", () => {
    expect(headName(1, 0, labels, 2, 2)).toBe("L7H1");
  });

  it("falls back to positions on an axis a pipeline shortened", () => {
    expect(headName(0, 0, labels, 1, 2)).toBe("L0H1");
    expect(headName(0, 1, { layers: [], heads: [] }, 2, 2)).toBe("L0H1");
  });
});
