import { describe, expect, it } from "vitest";
import { colorize, level, lookupTable, valueRange } from "./colormap";

function rgb(table: Uint8Array, index: number): number[] {
  return Array.from(table.subarray(index * 3, index * 3 + 3));
}

describe("colormap", () => {
  it("ends inferno and viridis at matplotlib's first and last colours", () => {
    expect(rgb(lookupTable("inferno"), 0)).toEqual([0x00, 0x00, 0x04]);
    expect(rgb(lookupTable("inferno"), 255)).toEqual([0xfc, 0xff, 0xa4]);
    expect(rgb(lookupTable("viridis"), 0)).toEqual([0x44, 0x01, 0x54]);
    expect(rgb(lookupTable("viridis"), 255)).toEqual([0xfd, 0xe7, 0x25]);
  });

  it("makes inferno brighter as values rise, so the hottest cell is the lightest", () => {
    const table = lookupTable("inferno");
    const brightness = (i: number) => rgb(table, i).reduce((a, b) => a + b, 0);
    for (let i = 16; i < 256; i += 16)
      expect(brightness(i)).toBeGreaterThan(brightness(i - 16));
  });

  it("maps gray level i to (i, i, i)", () => {
    expect(rgb(lookupTable("gray"), 0)).toEqual([0, 0, 0]);
    expect(rgb(lookupTable("gray"), 200)).toEqual([200, 200, 200]);
  });

  it("scales values from their min to max, clamping outside and sending NaN and flat maps to the bottom", () => {
    expect(level(5, 0, 10)).toBe(128);
    expect(level(-1, 0, 10)).toBe(0);
    expect(level(11, 0, 10)).toBe(255);
    expect(level(Number.NaN, 0, 10)).toBe(0);
    expect(level(3, 3, 3)).toBe(0);
  });

  it("finds the range of the finite values only", () => {
    expect(
      valueRange(new Float32Array([2, Number.NaN, -1, Infinity, 4])),
    ).toEqual([-1, 4]);
    expect(valueRange(new Float32Array([]))).toEqual([0, 0]);
  });

  it("writes opaque RGBA pixels, one per value", () => {
    const pixels = colorize(new Float32Array([0, 1]), "gray", [0, 1]);
    expect(Array.from(pixels)).toEqual([0, 0, 0, 255, 255, 255, 255, 255]);
  });
});
