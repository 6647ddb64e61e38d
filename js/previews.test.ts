import { describe, expect, it, vi } from "vitest";
import type { ArraySpec } from "./model";
import type { Grid } from "./heatmap";
import { chooseShown, PreviewBuffer, type PreviewMessage } from "./previews";

function spec(array: Float32Array | Uint8Array, shape: number[]): ArraySpec {
  const dtype = array instanceof Float32Array ? "float32" : "uint8";
  return { data: new DataView(array.buffer), dtype, shape };
}

/** Positions 1, 2, 3 have maps of 1 x 2 cells; rows 0 and 2 are computed. */
function buffer(): PreviewBuffer {
  const previews = new PreviewBuffer([1, 2, 3]);
  previews.read({
    maps: spec(new Float32Array([1, 2, 0, 0, 5, 6]), [3, 1, 2]),
    ready: spec(new Uint8Array([1, 0, 1]), [3]),
  });
  return previews;
}

const preview = (rows: number[], maps: number[], shape: number[]) => ({
  message: {
    type: "preview",
    rows: { buffer: 0, dtype: "int32", shape: [rows.length] },
    maps: { buffer: 1, dtype: "float32", shape },
  } as PreviewMessage,
  buffers: [
    new DataView(new Int32Array(rows).buffer),
    new DataView(new Float32Array(maps).buffer),
  ],
});

describe("preview buffer", () => {
  it("gives each computed token's map by position", () => {
    const previews = buffer();
    expect(previews.grid(1)).toEqual({
      values: new Float32Array([1, 2]),
      h: 1,
      w: 2,
    });
    expect(Array.from(previews.grid(3)!.values)).toEqual([5, 6]);
    expect(previews.row(3)).toBe(2);
  });

  it("has no map for a token not computed yet, nor for one that cannot be mapped", () => {
    const previews = buffer();
    expect(previews.grid(2)).toBeNull();
    expect(previews.pending(2)).toBe(true);
    expect(previews.has(0)).toBe(false);
    expect(previews.grid(0)).toBeNull();
    expect(previews.pending(1)).toBe(false);
  });

  it("has no maps before the kernel sent any", () => {
    const previews = new PreviewBuffer([1, 2]);
    previews.read({});
    expect(previews.grid(1)).toBeNull();
    expect(previews.has(1)).toBe(true);
  });

  it("writes rows computed later into the buffer", () => {
    const previews = buffer();
    const { message, buffers } = preview([1], [7, 9], [1, 1, 2]);
    expect(previews.patch(message, buffers)).toBe(true);
    expect(Array.from(previews.grid(2)!.values)).toEqual([7, 9]);
    expect(previews.pending(2)).toBe(false);
    expect(Array.from(previews.grid(1)!.values)).toEqual([1, 2]);
  });

  it("ignores rows of another size: a full update is on its way", () => {
    const previews = buffer();
    const { message, buffers } = preview([1], [7, 9, 8], [1, 1, 3]);
    expect(previews.patch(message, buffers)).toBe(false);
    expect(previews.grid(2)).toBeNull();
    const empty = new PreviewBuffer([1, 2, 3]);
    const same = preview([0], [1, 1], [1, 1, 2]);
    expect(empty.patch(same.message, same.buffers)).toBe(false);
    expect(empty.grid(1)).toBeNull();
  });
});

describe("which map is shown", () => {
  const grid = (value: number): Grid => ({
    values: new Float32Array([value]),
    h: 1,
    w: 1,
  });
  const maps = (compare: Grid | null, heads: Grid | null) => ({
    compare: vi.fn(() => compare),
    heads: vi.fn(() => heads),
    preview: vi.fn((position: number) =>
      position === 9 ? null : grid(position),
    ),
  });

  it("shows the selected token's preview", () => {
    expect(chooseShown(2, null, maps(null, null))).toEqual({
      position: 2,
      grid: grid(2),
      source: "selection",
    });
  });

  it("shows a hovered token's preview, and only the preview", () => {
    const sources = maps(grid(-1), grid(-2));
    expect(chooseShown(2, 5, sources)).toEqual({
      position: 5,
      grid: grid(5),
      source: "hover",
    });
    expect(sources.compare).not.toHaveBeenCalled();
    expect(sources.heads).not.toHaveBeenCalled();
  });

  it("treats hovering the selected token as no hover", () => {
    expect(chooseShown(2, 2, maps(null, grid(-2))).source).toBe("heads");
  });

  it("prefers the comparison, then the selected heads, to the preview", () => {
    expect(chooseShown(2, null, maps(grid(-1), grid(-2)))).toEqual({
      position: 2,
      grid: grid(-1),
      source: "compare",
    });
    const sources = maps(null, grid(-2));
    expect(chooseShown(2, null, sources).grid).toEqual(grid(-2));
    expect(sources.preview).not.toHaveBeenCalled();
  });

  it("is pending where the token's preview is not computed", () => {
    expect(chooseShown(9, null, maps(null, null))).toEqual({
      position: 9,
      grid: null,
      source: "pending",
    });
    expect(chooseShown(2, 9, maps(null, null)).source).toBe("pending");
  });
});
