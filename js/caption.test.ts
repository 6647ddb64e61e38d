import { describe, expect, it } from "vitest";
import {
  captionText,
  flatNote,
  quoteToken,
  type CaptionState,
} from "./caption";

const text = ["<s>", " cat", " sat", "\n"];

const base: CaptionState = {
  text,
  shown: 1,
  source: "selection",
  mode: "attn",
  layerReduce: "mean",
  headReduce: "max",
  heads: [],
  axes: null,
  compareToken: null,
  scale: { kind: "sequential", table: "inferno", range: [0.5, 1] },
  error: "",
  live: true,
};

describe("caption", () => {
  it("names the selected token, the method, the aggregation and the range", () => {
    expect(captionText(base)).toBe(
      '" cat" (position 1) · attn · mean over layers, max over heads · 0.500 to 1.00',
    );
  });

  it("names the hovered token while hovering, the same way", () => {
    expect(
      captionText({
        ...base,
        shown: 2,
        source: "hover",
        scale: { kind: "diverging", table: "diverging", range: [-3e-5, 2e4] },
      }),
    ).toBe(
      '" sat" (position 2) · attn · mean over layers, max over heads · -3.00e-5 to 2.00e+4',
    );
  });

  it("quotes tokens, escaping line breaks", () => {
    expect(quoteToken(text, 3)).toBe('"\\n"');
    expect(quoteToken(text, 9)).toBe('""');
    expect(captionText({ ...base, shown: 3 })).toMatch(/^"\\n" \(position 3\)/);
  });

  it("lists the selected heads by the model's layer and head indices", () => {
    const state: CaptionState = {
      ...base,
      source: "heads",
      heads: [
        [0, 1],
        [1, 0],
      ],
      axes: { labels: { layers: [4, 8], heads: [0, 3] }, layers: 2, heads: 2 },
    };
    expect(captionText(state)).toBe(
      '" cat" (position 1) · attn · heads L4H3, L8H0 · 0.500 to 1.00',
    );
  });

  it("names heads by position before a detail map, or when the labels do not fit its axes", () => {
    const heads: [number, number][] = [[2, 5]];
    expect(captionText({ ...base, source: "heads", heads })).toContain(
      "· heads L2H5 ·",
    );
    const axes = { labels: { layers: [7], heads: [] }, layers: 3, heads: 6 };
    expect(captionText({ ...base, source: "heads", heads, axes })).toContain(
      "· heads L2H5 ·",
    );
  });

  it("says the aggregation, not the heads, when heads are chosen but a preview is shown", () => {
    expect(
      captionText({ ...base, source: "hover", heads: [[0, 0]] }),
    ).toContain("· mean over layers, max over heads ·");
  });

  it("in compare mode, says which token is subtracted, over the aggregate or the heads", () => {
    const compare: CaptionState = {
      ...base,
      source: "compare",
      compareToken: 2,
      scale: { kind: "diverging", table: "diverging", range: [-2, 2] },
    };
    expect(captionText(compare)).toBe(
      '" cat" (position 1) minus " sat" (position 2) · attn · mean over layers, max over heads · -2.00 to 2.00',
    );
    expect(captionText({ ...compare, heads: [[0, 1]] })).toBe(
      '" cat" (position 1) minus " sat" (position 2) · attn · heads L0H1 · -2.00 to 2.00',
    );
  });

  it("does not mention the compared token while its difference is not shown", () => {
    expect(captionText({ ...base, compareToken: 2 })).toBe(captionText(base));
  });

  it("says when a map is not computed yet, and how to get it", () => {
    const pending: CaptionState = { ...base, source: "pending", mode: "grad" };
    expect(captionText(pending)).toBe(
      '" cat" (position 1): not computed for grad yet: click to compute',
    );
    expect(captionText({ ...pending, live: false })).toBe(
      '" cat" (position 1): not in this page for grad (the page holds the maps computed before it was saved)',
    );
    expect(captionText({ ...pending, error: "ValueError: bad" })).toBe(
      '" cat" (position 1): no map (see the error above)',
    );
  });

  it("says a constant map's value instead of a range", () => {
    const flat: CaptionState = {
      ...base,
      scale: { kind: "flat", table: "inferno", range: [0, 0] },
    };
    expect(captionText(flat)).toBe(
      '" cat" (position 1) · attn · mean over layers, max over heads · 0 everywhere',
    );
  });
});

describe("flatNote", () => {
  it("says why a constant map shows nothing, as far as the view knows", () => {
    const note = (
      source: "selection" | "compare",
      value: number,
      beforeImage: boolean,
    ) => flatNote({ source, value, beforeImage });
    expect(note("selection", 0, true)).toBe(
      "this token comes before the image: its map is zero",
    );
    expect(note("selection", 0, false)).toBe(
      "this map is zero everywhere: there is nothing to show",
    );
    expect(note("selection", 0.25, false)).toBe(
      "this map is 0.250 everywhere: no place stands out",
    );
    expect(note("compare", 0, false)).toBe(
      "the two maps are the same: their difference is zero everywhere",
    );
  });
});
