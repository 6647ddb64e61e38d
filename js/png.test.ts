// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from "vitest";
import { Heatmap } from "./heatmap";
import { BAR_HEIGHT, composePng, pngName, savePng } from "./png";

/** A 2D context that records what is drawn on it. */
function recordingContext() {
  const calls: {
    fillText: [string, number, number][];
    drawImage: unknown[][];
  } = { fillText: [], drawImage: [] };
  const ctx = {
    fillRect: vi.fn(),
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
  return heatmap;
}

afterEach(() => vi.restoreAllMocks());

describe("Save PNG", () => {
  it("names the file after the token and the method", () => {
    expect(pngName(12, "attn")).toBe("saliency-position-12-attn.png");
  });

  it("draws the map with the colour bar and its range under it", () => {
    const { ctx, calls } = recordingContext();
    vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue(
      ctx as unknown as CanvasRenderingContext2D,
    );
    const heatmap = shownHeatmap();
    const out = composePng(heatmap)!;
    expect([out.width, out.height]).toEqual([200, 100 + BAR_HEIGHT]);
    expect(calls.drawImage[0]).toEqual([heatmap.canvas, 0, 0]);
    const bar = heatmap.element.querySelector(".vlsw-colorbar canvas");
    expect(calls.drawImage[1]).toEqual([bar, 60, 106, 80, BAR_HEIGHT - 12]);
    expect(calls.fillText).toEqual([
      ["2.00e-5", 4, 112],
      ["1.50", 196, 112],
    ]);
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
    savePng(shownHeatmap(), "saliency-position-3-grad.png");
    expect(clicked).toHaveLength(1);
    expect(clicked[0].download).toBe("saliency-position-3-grad.png");
    expect(clicked[0].href).toBe("data:image/png;base64,AAAA");
  });

  it("does nothing where the canvas has no 2D context", () => {
    vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue(null);
    const click = vi
      .spyOn(HTMLAnchorElement.prototype, "click")
      .mockImplementation(() => undefined);
    expect(composePng(shownHeatmap())).toBeNull();
    savePng(shownHeatmap(), "x.png");
    expect(click).not.toHaveBeenCalled();
  });
});
