// @vitest-environment happy-dom
import { beforeEach, describe, expect, it } from "vitest";
import { difference, outline, regionCells } from "./offline";
import { mount } from "./standalone";

/** An array as an exported page's JSON holds it. */
function held(array: Float32Array | Int32Array | Uint8Array, shape: number[]) {
  const dtype =
    array instanceof Float32Array
      ? "float32"
      : array instanceof Int32Array
        ? "int32"
        : "uint8";
  const bytes = Buffer.from(array.buffer, array.byteOffset, array.byteLength);
  return { data: { $base64: bytes.toString("base64") }, dtype, shape };
}

// Tokens: <s> a b c; mappable 1, 2, 3 (answer: 2, 3). Maps are 1 x 2.
function page() {
  const grid = (token: number) => [token, 0, 0, token]; // [layers=1, heads=2, h=1, w=2]
  const method = (scale: number, ready: number[]) => ({
    previews: {
      maps: held(
        new Float32Array([1, 0, 2, 1, 3, 1].map((v) => v * scale)),
        [3, 1, 2],
      ),
      ready: held(new Uint8Array(ready), [3]),
    },
    grids: {
      positions: held(new Int32Array([2]), [1]),
      maps: held(
        new Float32Array(grid(2).map((v) => v * scale)),
        [1, 1, 2, 1, 2],
      ),
    },
    layer_labels: [0],
    head_labels: [0, 1],
    note: "1 of the answer's 2 tokens are left out for want of room",
  });
  return {
    tokens: {
      text: ["<s>", "a", "b", "c"],
      special: [true, false, false, false],
      image_of: held(new Int32Array([-1, -1, -1, -1]), [4]),
      gen_start: 2,
      mappable: held(new Int32Array([1, 2, 3]), [3]),
      grounding: held(new Float32Array(4), [4]),
    },
    images: [],
    methods: ["attn", "grad"],
    reductions: ["mean", "sum", "max", "min"],
    colormaps: ["inferno", "viridis", "gray"],
    previews: method(1, [1, 1, 1]).previews,
    token: 2,
    mode: "attn",
    image_index: 0,
    layer_reduce: "mean",
    head_reduce: "mean",
    heads: [],
    colormap: "inferno",
    grid_scale: "head",
    opacity: 0.6,
    smooth: true,
    error: "",
    region_scores: {},
    compare_token: null,
    comparison: {},
    head_ranking: {},
    reliance: {},
    focus: {},
    static: {
      heading: { prompt: "What is it?", answer: "b c" },
      methods: { attn: method(1, [1, 1, 1]), grad: method(-1, [0, 1, 1]) },
      focus: {
        "2": {
          token: 2,
          image_share: held(new Float32Array([0.25, 0.5]), [2]),
          layer_labels: [0, 1],
        },
        "3": {
          token: 3,
          image_share: held(new Float32Array([0.75, 0.125]), [2]),
          layer_labels: [0, 1],
        },
      },
    },
  };
}

const $ = <T extends HTMLElement>(testid: string) =>
  document.querySelector<T>(`[data-testid="${testid}"]`)!;
const heatmap = () => $<HTMLCanvasElement>("heatmap");

describe("the exported page's kernel", () => {
  beforeEach(() => {
    const el = document.createElement("div");
    document.body.replaceChildren(el);
    mount(el, page());
  });

  it("shows the prompt and the answer, and the selected token's layers x heads from the page", () => {
    expect($("heading").textContent).toBe("promptWhat is it?answerb c");
    expect(document.querySelectorAll('[data-testid="head-cell"]')).toHaveLength(
      2,
    );
    expect(
      document.querySelector(".vlsw-root")?.getAttribute("data-busy"),
    ).toBe("false");
  });

  it("says why a token has no grid in the page", () => {
    $<HTMLElement>("token")
      .parentElement!.querySelector<HTMLElement>('[data-index="3"]')!
      .click();
    expect($("head-grid").hidden).toBe(true);
    expect($("grid-note").textContent).toBe(
      "No layers × heads map of this token in this page: 1 of the answer's 2 tokens are left out for want of room.",
    );
  });

  it("switches methods: their previews, a signed map on the diverging scale, the grid answered again", () => {
    const menu = $<HTMLSelectElement>("method");
    expect(menu.disabled).toBe(false);
    menu.value = "grad";
    menu.dispatchEvent(new Event("change"));
    expect(heatmap().dataset.mode).toBe("grad");
    expect(heatmap().dataset.scale).toBe("diverging");
    expect(
      document.querySelector(".vlsw-heatmap")?.getAttribute("data-min"),
    ).toBe("-2");
    expect(document.querySelectorAll('[data-testid="head-cell"]')).toHaveLength(
      2,
    );
    document
      .querySelector<HTMLElement>('[data-testid="token"][data-index="1"]')!
      .click();
    expect(heatmap().dataset.source).toBe("pending");
    expect($("caption").textContent).toContain("not in this page for grad");
  });

  it("shows each answer token's image share per layer from the page, not only the one selected when saved", () => {
    const shares = () =>
      Array.from(
        document.querySelectorAll<HTMLElement>('[data-testid="share-bar"]'),
      ).map((bar) => bar.title);
    document
      .querySelector<HTMLElement>('[data-testid="token"][data-index="3"]')!
      .click();
    expect($("image-share").hidden).toBe(false);
    expect(shares()[0]).toContain("layer 0: 0.75");
    document
      .querySelector<HTMLElement>('[data-testid="token"][data-index="2"]')!
      .click();
    expect(shares()[0]).toContain("layer 0: 0.25");
  });

  it("scores every token on a dragged region from the page's previews", () => {
    const canvas = heatmap();
    Object.defineProperty(canvas, "clientWidth", { value: 100 });
    Object.defineProperty(canvas, "clientHeight", { value: 50 });
    canvas.getBoundingClientRect = () => ({ left: 0, top: 0 }) as DOMRect;
    const at = (type: string, x: number) =>
      canvas.dispatchEvent(
        new PointerEvent(type, { clientX: x, clientY: 25, button: 0 }),
      );
    at("pointerdown", 60);
    at("pointermove", 90);
    at("pointerup", 95);
    const scored = [1, 2, 3].map(
      (p) =>
        document.querySelector<HTMLElement>(`[data-index="${p}"]`)!.dataset
          .region,
    );
    // The right cell of each token's [1, 2] map: 0, 1, 1 over the top score 1.
    expect(scored).toEqual(["0.000", "1.000", "1.000"]);
    expect($("region").hidden).toBe(false);
    expect($("region-legend").textContent).toContain("attn map");
  });

  it("compares two tokens: the difference of their maps, each scaled to unit mass", () => {
    document
      .querySelector<HTMLElement>('[data-testid="token"][data-index="3"]')!
      .dispatchEvent(
        new MouseEvent("click", { shiftKey: true, bubbles: true }),
      );
    expect(heatmap().dataset.source).toBe("compare");
    expect($("compare-legend").textContent).toBe(
      'red: "b" puts more · blue: "c" puts more',
    );
    expect(
      document.querySelector(".vlsw-heatmap")?.getAttribute("data-max"),
    ).toBe(String(Math.fround(2 / 3 - 3 / 4) * -1));
  });
});

describe("offline maths", () => {
  it("subtracts maps scaled to unit mass, as lib.difference", () => {
    expect(
      Array.from(
        difference(new Float32Array([1, 3]), new Float32Array([2, 2])),
      ),
    ).toEqual([-0.25, 0.25]);
  });

  it("finds the cells a click or a drag names, and their outline", () => {
    expect(
      Array.from(regionCells({ type: "region", point: [0.9, 0.1] }, 2, 3)!),
    ).toEqual([0, 0, 1, 0, 0, 0]);
    const box = regionCells(
      { type: "region", box: [0.35, 0.6, 0.6, 1] },
      2,
      3,
    )!;
    expect(Array.from(box)).toEqual([0, 0, 0, 0, 1, 0]);
    expect(outline(box, 2, 3)).toEqual([1 / 3, 0.5, 2 / 3, 1]);
    expect(regionCells({ type: "region" }, 2, 3)).toBeNull();
  });
});
