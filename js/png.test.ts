// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from "vitest";
import { Heatmap } from "./heatmap";
import {
  BAR_HEIGHT,
  composePng,
  LINE_HEIGHT,
  pngName,
  savePng,
  wrapText,
} from "./png";

/** A 2D context that records what is drawn on it. */
function recordingContext() {
  const calls: {
    fillText: [string, number, number][];
    drawImage: unknown[][];
  } = { fillText: [], drawImage: [] };
  const ctx = {
    fillRect: vi.fn(),
    measureText: (text: string) => ({ width: text.length * 4 }),
    drawImage: (...args: unknown[]) => calls.drawImage.push(args),
    fillText: (text: string, x: number, y: number) =>
      calls.fillText.push([text, x, y]),
  };
  return { ctx, calls };
}

function shownHeatmap(): Heatmap {
  const heatmap = new Heatmap();
  heatmap.canvas.width = 200;
  heatmap.canvas.height = 100;
  heatmap.element.dataset.min = "0.00002";
  heatmap.element.dataset.max = "1.5";
  heatmap.scale = { kind: "sequential", table: "inferno", range: [2e-5, 1.5] };
  return heatmap;
}

const words = {
  caption: '" cat" (position 3) · attn · mean over layers, mean over heads',
  legend: "",
};

afterEach(() => vi.restoreAllMocks());

describe("Save PNG", () => {
  it("names the file after the token and the method, in characters any file system takes", () => {
    expect(pngName(12, "attn")).toBe("saliency-position-12-attn.png");
    expect(pngName(3, "my method/v2")).toBe(
      "saliency-position-3-my_method_v2.png",
    );
  });

  it("draws the map, the colour bar with its range, and the caption under them", () => {
    const { ctx, calls } = recordingContext();
    vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue(
      ctx as unknown as CanvasRenderingContext2D,
    );
    const heatmap = shownHeatmap();
    const out = composePng(heatmap, words)!;
    // 62 characters of 4 px: two lines in 188 px.
    expect([out.width, out.height]).toEqual([
      200,
      100 + BAR_HEIGHT + 2 * LINE_HEIGHT + 6,
    ]);
    expect(calls.drawImage[0]).toEqual([heatmap.canvas, 0, 0]);
    expect(calls.drawImage[1]).toEqual([
      heatmap.colorbar,
      60,
      106,
      80,
      BAR_HEIGHT - 12,
    ]);
    expect(calls.fillText.map(([text]) => text)).toEqual([
      "2.00e-5",
      "1.50",
      '" cat" (position 3) · attn · mean over layers,',
      "mean over heads",
    ]);
  });

  it("draws a constant map with its note and no colour bar", () => {
    const { ctx, calls } = recordingContext();
    vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue(
      ctx as unknown as CanvasRenderingContext2D,
    );
    const heatmap = shownHeatmap();
    heatmap.scale = { kind: "flat", table: "inferno", range: [0, 0] };
    const out = composePng(heatmap, { caption: "c", legend: "zero" })!;
    expect(out.height).toBe(100 + 2 * LINE_HEIGHT + 6);
    expect(calls.drawImage).toHaveLength(1);
    expect(calls.fillText.map(([text]) => text)).toEqual(["zero", "c"]);
  });

  it("wraps text at word boundaries", () => {
    const measure = { measureText: (text: string) => ({ width: text.length }) };
    expect(
      wrapText(measure as CanvasRenderingContext2D, "aa bb cc", 5),
    ).toEqual(["aa bb", "cc"]);
  });

  it("downloads the picture under the given name", () => {
    const { ctx } = recordingContext();
    vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue(
      ctx as unknown as CanvasRenderingContext2D,
    );
    vi.spyOn(HTMLCanvasElement.prototype, "toDataURL").mockReturnValue(
      "data:image/png;base64,AAAA",
    );
    const clicked: HTMLAnchorElement[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (
      this: HTMLAnchorElement,
    ) {
      clicked.push(this);
    });
    savePng(shownHeatmap(), words, "saliency-position-3-grad.png");
    expect(clicked).toHaveLength(1);
    expect(clicked[0].download).toBe("saliency-position-3-grad.png");
    expect(clicked[0].href).toBe("data:image/png;base64,AAAA");
  });

  it("does nothing where the canvas has no 2D context", () => {
    vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue(null);
    const click = vi
      .spyOn(HTMLAnchorElement.prototype, "click")
      .mockImplementation(() => undefined);
    expect(composePng(shownHeatmap(), words)).toBeNull();
    savePng(shownHeatmap(), words, "x.png");
    expect(click).not.toHaveBeenCalled();
  });
});
