// @vitest-environment happy-dom
import { beforeEach, describe, expect, it } from "vitest";
import type { ArraySpec, Model, Traits } from "./model";
import { mountView } from "./view";

function spec(
  array: Float32Array | Int32Array | Uint8Array,
  shape: number[],
): ArraySpec {
  const dtype =
    array instanceof Float32Array
      ? "float32"
      : array instanceof Int32Array
        ? "int32"
        : "uint8";
  return { data: new DataView(array.buffer), dtype, shape };
}

type Listener = (...args: unknown[]) => void;

/** A widget model that records what the view sends and lets the test play the kernel. */
function fakeKernelModel(overrides: Partial<Traits> = {}) {
  const state: Traits = {
    tokens: {
      text: ["<s>", "a", "b", "c"],
      special: [true, false, false, false],
      image_of: spec(new Int32Array([-1, -1, -1, -1]), [4]),
      gen_start: 2,
      mappable: spec(new Int32Array([1, 2, 3]), [3]),
      grounding: spec(new Float32Array(4), [4]),
    },
    images: [],
    methods: ["attn", "grad"],
    reductions: ["mean", "sum", "max", "min"],
    colormaps: ["inferno", "viridis", "gray"],
    previews: {
      maps: spec(new Float32Array([0, 1, 2, 3, 4, 5]), [3, 1, 2]),
      ready: spec(new Uint8Array([1, 1, 1]), [3]),
    },
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
    ...overrides,
  };
  const listeners = new Map<string, Set<Listener>>();
  const sent: Record<string, unknown>[] = [];
  const model = {
    get: (key: keyof Traits) => state[key],
    set: (key: keyof Traits, value: never) => {
      state[key] = value;
      for (const callback of listeners.get(`change:${key}`) ?? []) callback();
    },
    on: (name: string, callback: Listener) => {
      listeners.set(name, (listeners.get(name) ?? new Set()).add(callback));
    },
    off: (name: string, callback: Listener) =>
      listeners.get(name)?.delete(callback),
    save_changes: () => undefined,
    send: (message: Record<string, unknown>) => sent.push(message),
  } as unknown as Model;
  const detail = (id: number, token: number) => {
    // [layers=1, heads=2, h=1, w=2]
    const map = new Float32Array([token, 0, 0, token]);
    const message = {
      type: "detail",
      id,
      token,
      mode: "attn",
      image_index: 0,
      detail: { buffer: 0, dtype: "float32", shape: [1, 2, 1, 2] },
    };
    for (const callback of listeners.get("msg:custom") ?? [])
      callback(message, [new DataView(map.buffer)]);
  };
  const message = (content: Record<string, unknown>, buffers: DataView[]) => {
    for (const callback of listeners.get("msg:custom") ?? [])
      callback(content, buffers);
  };
  const listening = () =>
    [...listeners.values()].reduce((n, set) => n + set.size, 0);
  return { model, sent, detail, message, listening };
}

const heatmap = () =>
  document.querySelector<HTMLCanvasElement>('[data-testid="heatmap"]')!;
const token = (i: number) =>
  document.querySelector<HTMLElement>(
    `[data-testid="token"][data-index="${i}"]`,
  )!;

describe("view", () => {
  let el: HTMLElement;
  beforeEach(() => {
    el = document.createElement("div");
    document.body.replaceChildren(el);
  });

  it("draws reliance bars, the image share chart and the attribution toggle from the traits", () => {
    const kernel = fakeKernelModel({
      reliance: {
        baseline: "blur",
        threshold: Math.LN2,
        delta: spec(new Float32Array([NaN, NaN, 1.5, -0.3]), [4]),
        with_image: spec(new Float32Array([NaN, NaN, -0.1, -1]), [4]),
        without_image: spec(new Float32Array([NaN, NaN, -1.6, -0.7]), [4]),
        from_image: spec(new Uint8Array([0, 0, 1, 0]), [4]),
      },
      focus: {
        token: 2,
        image_share: spec(new Float32Array([0.2, 0.8]), [2]),
        layer_labels: [0, 1],
        attribution: spec(new Float32Array([0.3, 0.6, 0.1, NaN]), [4]),
      },
    });
    mountView(kernel.model, el, { live: true });
    expect(token(2).dataset.reliance).toBe("1.5000");
    expect(token(2).dataset.fromImage).toBe("yes");
    expect(token(2).title).toContain("1.50 nats lost without it");
    expect(token(3).style.getPropertyValue("--reliance")).toBe("0.200");
    expect(token(1).dataset.reliance).toBeUndefined();
    const bars = el.querySelectorAll<HTMLElement>('[data-testid="share-bar"]');
    expect(Array.from(bars, (bar) => bar.dataset.value)).toEqual([
      "0.2000",
      "0.8000",
    ]);
    const toggle = el.querySelector<HTMLButtonElement>(
      '[data-testid="attribution-toggle"]',
    )!;
    expect(toggle.hidden).toBe(false);
    expect(token(1).dataset.attribution).toBeUndefined();
    toggle.click();
    expect(token(1).style.getPropertyValue("--attribution")).toBe("1.000");
    expect(token(0).style.getPropertyValue("--attribution")).toBe("0.500");
    expect(
      el.querySelector<HTMLElement>('[data-testid="attribution-legend"]')!
        .hidden,
    ).toBe(false);
    toggle.click();
    expect(token(1).dataset.attribution).toBeUndefined();
  });

  it("asks the kernel for the selected token's layers x heads when it mounts", () => {
    const kernel = fakeKernelModel();
    mountView(kernel.model, el, { live: true });
    expect(kernel.sent).toEqual([
      { type: "select", id: expect.any(Number), token: 2 },
    ]);
    expect(el.querySelector(".vlsw-root")?.getAttribute("data-busy")).toBe(
      "true",
    );
  });

  it("shows a click at once from the previews and drops a late answer to an older click", () => {
    const kernel = fakeKernelModel();
    mountView(kernel.model, el, { live: true });
    token(3).click();
    expect(heatmap().dataset.token).toBe("3");
    expect(heatmap().dataset.source).toBe("selection");
    // The token trait is the kernel's to set: set here, it would go back stale with the next saved change.
    expect(kernel.model.get("token")).toBe(2);
    token(1).click();
    const [, older, newer] = kernel.sent.map((m) => m.id as number);
    expect(newer).toBeGreaterThan(older);
    kernel.detail(older, 3);
    expect(heatmap().dataset.request).toBeUndefined();
    expect(el.querySelector(".vlsw-root")?.getAttribute("data-busy")).toBe(
      "true",
    );
    kernel.detail(newer, 1);
    expect(heatmap().dataset.request).toBe(String(newer));
    expect(el.querySelector(".vlsw-root")?.getAttribute("data-busy")).toBe(
      "false",
    );
    expect(el.querySelectorAll('[data-testid="head-cell"]')).toHaveLength(2);
  });

  it("takes a Python-side update (request id 0) only for the token on screen", () => {
    const kernel = fakeKernelModel();
    mountView(kernel.model, el, { live: true });
    kernel.detail(0, 3);
    expect(heatmap().dataset.request).toBeUndefined();
    kernel.model.set("token", 3);
    kernel.detail(0, 3);
    expect(heatmap().dataset.request).toBe("0");
  });

  it("shows a clicked head alone and adds heads with shift", () => {
    const kernel = fakeKernelModel();
    mountView(kernel.model, el, { live: true });
    kernel.detail(kernel.sent[0].id as number, 2);
    const cell = (k: number) =>
      el.querySelector<HTMLElement>(
        `[data-testid="head-cell"][data-head="${k}"]`,
      )!;
    cell(1).click();
    expect(kernel.model.get("heads")).toEqual([[0, 1]]);
    expect(heatmap().dataset.source).toBe("heads");
    cell(0).dispatchEvent(
      new MouseEvent("click", { shiftKey: true, bubbles: true }),
    );
    expect(kernel.model.get("heads")).toEqual([
      [0, 1],
      [0, 0],
    ]);
    el.querySelector<HTMLElement>('[data-testid="aggregate"]')!.click();
    expect(kernel.model.get("heads")).toEqual([]);
    expect(heatmap().dataset.source).toBe("selection");
  });

  it("removes every listener on cleanup", () => {
    const kernel = fakeKernelModel();
    const cleanup = mountView(kernel.model, el, { live: true });
    expect(kernel.listening()).toBeGreaterThan(0);
    cleanup();
    expect(kernel.listening()).toBe(0);
    const before = kernel.sent.length;
    token(3).click();
    expect(kernel.sent.length).toBe(before);
  });

  it("draws a map with negative values on the diverging scale centred on 0, with a legend of the signs", () => {
    const kernel = fakeKernelModel({
      previews: {
        maps: spec(new Float32Array([0, 1, -2, 1, 4, 5]), [3, 1, 2]),
        ready: spec(new Uint8Array([1, 1, 1]), [3]),
      },
    });
    mountView(kernel.model, el, { live: true });
    expect(heatmap().dataset.scale).toBe("diverging");
    const bar = el.querySelector<HTMLElement>(".vlsw-heatmap")!;
    expect([bar.dataset.min, bar.dataset.max]).toEqual(["-2", "2"]);
    const legend = el.querySelector<HTMLElement>(
      '[data-testid="sign-legend"]',
    )!;
    expect(legend.hidden).toBe(false);
    expect(legend.textContent).toContain("blue: below 0");
    token(3).click();
    expect(heatmap().dataset.scale).toBe("sequential");
    expect(legend.hidden).toBe(true);
  });

  it("draws a constant map without colours and says why: a token before the image maps to zero", () => {
    const kernel = fakeKernelModel({
      tokens: {
        text: ["<s>", "a", "<img>", "c"],
        special: [true, false, true, false],
        image_of: spec(new Int32Array([-1, -1, 0, -1]), [4]),
        gen_start: 3,
        mappable: spec(new Int32Array([1, 3]), [2]),
        grounding: spec(new Float32Array(4), [4]),
      },
      previews: {
        maps: spec(new Float32Array([0, 0, 1, 2]), [2, 1, 2]),
        ready: spec(new Uint8Array([1, 1]), [2]),
      },
      token: 1,
    });
    mountView(kernel.model, el, { live: true });
    const note = el.querySelector<HTMLElement>('[data-testid="map-note"]')!;
    expect(heatmap().dataset.scale).toBe("flat");
    expect(note.hidden).toBe(false);
    expect(note.textContent).toBe(
      "this token comes before the image: its map is zero",
    );
    expect(
      el.querySelector<HTMLElement>('[data-testid="colorbar"]')!.hidden,
    ).toBe(true);
    expect(el.querySelector('[data-testid="caption"]')?.textContent).toContain(
      "· 0 everywhere",
    );
  });

  it("says on hover why a token has no map", () => {
    const kernel = fakeKernelModel();
    mountView(kernel.model, el, { live: true });
    token(0).dispatchEvent(new MouseEvent("mouseenter"));
    expect(el.querySelector('[data-testid="caption"]')?.textContent).toBe(
      '"<s>" (position 0) has no map: nothing comes before the first token, so no row predicted it',
    );
    expect(token(0).title).toContain("no map");
    expect(heatmap().dataset.token).toBe("2");
  });

  it("names the token the grid shows, and says so while another token is hovered", () => {
    const kernel = fakeKernelModel();
    mountView(kernel.model, el, { live: true });
    kernel.detail(kernel.sent[0].id as number, 2);
    const title = el.querySelector('[data-testid="grid-title"]')!;
    expect(title.textContent).toBe('layers × heads of "b" (position 2)');
    token(3).dispatchEvent(new MouseEvent("mouseenter"));
    expect(el.querySelector('[data-testid="grid-note"]')?.textContent).toBe(
      'hovering "c": the grid stays on the selected token; click to see its heads',
    );
    expect(title.textContent).toBe('layers × heads of "b" (position 2)');
  });

  it("names the selected heads in the heads menu, and a reduction chosen there drops them", () => {
    const kernel = fakeKernelModel();
    mountView(kernel.model, el, { live: true });
    kernel.detail(kernel.sent[0].id as number, 2);
    kernel.model.set("heads", [[0, 1]]);
    const menu = el.querySelector<HTMLSelectElement>(
      '[data-testid="head-reduce"]',
    )!;
    expect(menu.selectedOptions[0].textContent).toBe("selected: L0H1");
    menu.value = "max";
    menu.dispatchEvent(new Event("change"));
    expect(kernel.model.get("heads")).toEqual([]);
    expect(kernel.model.get("head_reduce")).toBe("max");
    expect(menu.querySelector(".vlsw-chosen")).toBeNull();
  });

  it("switches the grid between a scale per head and one shared scale", () => {
    const kernel = fakeKernelModel();
    mountView(kernel.model, el, { live: true });
    kernel.detail(kernel.sent[0].id as number, 2);
    const grid = el.querySelector<HTMLElement>('[data-testid="head-grid"]')!;
    const legend = el.querySelector('[data-testid="grid-legend"]')!;
    expect(grid.dataset.scale).toBe("head");
    expect(legend.textContent).toContain("each head on its own scale");
    el.querySelector<HTMLElement>(
      '[data-testid="grid-scale"] [data-value="shared"]',
    )!.click();
    expect(kernel.model.get("grid_scale")).toBe("shared");
    expect(grid.dataset.scale).toBe("shared");
    expect(legend.textContent).toBe("one scale for every head: 0 to 2.00");
  });

  it("marks the compared token and names each sign's token while the difference is shown", () => {
    const difference = new Float32Array([-0.5, 0.5]);
    const kernel = fakeKernelModel({
      compare_token: 1,
      comparison: {
        token: 2,
        compare_token: 1,
        mode: "attn",
        image_index: 0,
        values: spec(difference, [1, 2]),
      },
    });
    mountView(kernel.model, el, { live: true });
    expect(heatmap().dataset.source).toBe("compare");
    expect(token(1).classList.contains("compared")).toBe(true);
    const legend = el.querySelector<HTMLElement>(
      '[data-testid="compare-legend"]',
    )!;
    expect(legend.textContent).toBe('red: "b" puts more · blue: "a" puts more');
    expect(el.querySelector('[data-testid="caption"]')?.textContent).toMatch(
      /^"b" \(position 2\) minus "a" \(position 1\) · attn/,
    );
    token(3).dispatchEvent(new MouseEvent("mouseenter"));
    expect(heatmap().dataset.source).toBe("hover");
    expect(legend.hidden).toBe(true);
  });

  it("shows the kernel's error in the widget", () => {
    const kernel = fakeKernelModel();
    mountView(kernel.model, el, { live: true });
    kernel.model.set("error", "ValueError: <b>bad</b> pipeline");
    const banner = el.querySelector<HTMLElement>('[data-testid="error"]')!;
    expect(banner.hidden).toBe(false);
    expect(banner.textContent).toBe("ValueError: <b>bad</b> pipeline");
    expect(banner.querySelector("b")).toBeNull();
  });

  it("writes a preview the kernel computed later into the previews, without a full update", () => {
    const kernel = fakeKernelModel({
      previews: {
        maps: spec(new Float32Array(6), [3, 1, 2]),
        ready: spec(new Uint8Array([0, 1, 1]), [3]),
      },
    });
    mountView(kernel.model, el, { live: true });
    token(1).click();
    expect(heatmap().dataset.source).toBe("pending");
    expect(token(1).classList.contains("pending")).toBe(true);
    kernel.message(
      {
        type: "preview",
        rows: { buffer: 0, dtype: "int32", shape: [1] },
        maps: { buffer: 1, dtype: "float32", shape: [1, 1, 2] },
      },
      [
        new DataView(new Int32Array([0]).buffer),
        new DataView(new Float32Array([7, 9]).buffer),
      ],
    );
    expect(heatmap().dataset.source).toBe("selection");
    expect(token(1).classList.contains("pending")).toBe(false);
  });

  it("goes back to the kernel's token when the kernel refuses a selection", () => {
    const kernel = fakeKernelModel();
    mountView(kernel.model, el, { live: true });
    token(3).click();
    const id = kernel.sent[kernel.sent.length - 1].id;
    kernel.message(
      { type: "detail", id, token: 2, error: "Position 3 cannot be mapped" },
      [],
    );
    expect(kernel.model.get("token")).toBe(2);
    expect(heatmap().dataset.token).toBe("2");
  });
});
