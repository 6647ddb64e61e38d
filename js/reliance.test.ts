// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import type { ArraySpec } from "./model";
import {
  attributionMarks,
  createShareChart,
  imageShare,
  relianceMarks,
  relianceText,
} from "./reliance";

function spec(array: Float32Array | Uint8Array): ArraySpec {
  return {
    data: new DataView(array.buffer),
    dtype: array instanceof Float32Array ? "float32" : "uint8",
    shape: [array.length],
  };
}

const reliance = {
  baseline: "blur",
  threshold: Math.LN2,
  delta: spec(new Float32Array([NaN, NaN, 2, -0.5, 0.25])),
  with_image: spec(new Float32Array([NaN, NaN, -0.1, -1, -2])),
  without_image: spec(new Float32Array([NaN, NaN, -2.1, -0.5, -2.25])),
  from_image: spec(new Uint8Array([0, 0, 1, 0, 0])),
};

describe("reliance", () => {
  it("marks only scored tokens, bars scaled to the largest |delta|", () => {
    const marks = relianceMarks(reliance)!;
    expect(marks.top).toBe(2);
    expect(marks.mark(0)).toBeNull();
    expect(marks.mark(2)).toMatchObject({ length: 1, fromImage: true });
    expect(marks.mark(3)).toMatchObject({ length: 0.25, fromImage: false });
    expect(relianceMarks({})).toBeNull();
  });

  it("says the numbers in words", () => {
    const marks = relianceMarks(reliance)!;
    expect(relianceText(marks.mark(2)!)).toContain("2.00 nats lost without it");
    expect(relianceText(marks.mark(2)!)).toContain("from the image: yes");
    expect(relianceText(marks.mark(3)!)).toContain("0.500 nats gained");
  });

  it("tints by the selected token's attribution, only for that token", () => {
    const focus = {
      token: 4,
      attribution: spec(new Float32Array([0.1, NaN, 0.4, 0.2, NaN])),
    };
    const marks = attributionMarks(focus, 4)!;
    expect(marks.top).toBeCloseTo(0.4);
    expect(marks.mark(0)!.tint).toBeCloseTo(0.25);
    expect(marks.mark(1)).toBeNull();
    expect(attributionMarks(focus, 3)).toBeNull();
    expect(attributionMarks({ token: 4 }, 4)).toBeNull();
  });

  it("draws one bar per layer, its height the share", () => {
    const focus = {
      token: 2,
      image_share: spec(new Float32Array([0.25, 0.5, 1])),
      layer_labels: [3, 4, 5],
    };
    const chart = createShareChart();
    chart.show(imageShare(focus, 2), '"a"');
    const bars = chart.element.querySelectorAll<HTMLElement>(
      '[data-testid="share-bar"]',
    );
    expect(Array.from(bars, (bar) => bar.dataset.layer)).toEqual([
      "3",
      "4",
      "5",
    ]);
    expect(bars[1].style.height).toBe("50.0%");
    chart.show(imageShare(focus, 1), '"b"');
    expect(chart.element.hidden).toBe(true);
  });
});
