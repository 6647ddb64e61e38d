// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { Model, Picture, Traits } from "./model";
import { createImageTabs } from "./tabs";
import { createToolbar } from "./toolbar";

/** A model holding the traits the toolbar reads; records what is saved and sent. */
function fakeModel(overrides: Partial<Traits> = {}) {
  const state = {
    methods: ["attn", "grad"],
    reductions: ["mean", "sum", "max", "min"],
    colormaps: ["inferno", "viridis", "gray"],
    mode: "attn",
    layer_reduce: "mean",
    head_reduce: "mean",
    colormap: "inferno",
    opacity: 0.6,
    smooth: true,
    image_index: 0,
    images: [] as Picture[],
    ...overrides,
  } as Partial<Traits>;
  const saved: Partial<Traits>[] = [];
  const sent: unknown[] = [];
  let changes: Partial<Traits> = {};
  const model = {
    get: (key: keyof Traits) => state[key],
    set: (key: keyof Traits, value: never) => {
      state[key] = value;
      changes[key] = value;
    },
    save_changes: () => {
      saved.push(changes);
      changes = {};
    },
    send: (message: unknown) => sent.push(message),
  } as unknown as Model;
  return { model, state, saved, sent };
}

const byTestId = <T extends HTMLElement>(root: HTMLElement, id: string) =>
  root.querySelector<T>(`[data-testid="${id}"]`)!;

function mount(kernel = true, overrides: Partial<Traits> = {}) {
  const fake = fakeModel(overrides);
  const handlers = { mode: vi.fn(), save: vi.fn(), computeAll: vi.fn() };
  const toolbar = createToolbar(
    fake.model,
    kernel,
    handlers,
    new AbortController().signal,
  );
  document.body.replaceChildren(toolbar.element);
  toolbar.sync();
  return { ...fake, toolbar, handlers, el: toolbar.element };
}

function choose(select: HTMLSelectElement, value: string): void {
  select.value = value;
  select.dispatchEvent(new Event("change"));
}

describe("toolbar", () => {
  beforeEach(() => document.body.replaceChildren());

  it("writes each control's trait and sends it to the kernel", () => {
    const { el, saved } = mount();
    choose(byTestId(el, "layer-reduce"), "max");
    choose(byTestId(el, "head-reduce"), "sum");
    choose(byTestId(el, "colormap"), "gray");
    const opacity = byTestId<HTMLInputElement>(el, "opacity");
    opacity.value = "0.25";
    opacity.dispatchEvent(new Event("input"));
    const smooth = byTestId<HTMLInputElement>(el, "smooth");
    smooth.click();
    expect(saved).toEqual([
      { layer_reduce: "max" },
      { head_reduce: "sum" },
      { colormap: "gray" },
      { opacity: 0.25 },
      { smooth: false },
    ]);
  });

  it("hands a new method to the view instead of writing it", () => {
    const { el, saved, handlers } = mount();
    choose(byTestId(el, "method"), "grad");
    expect(handlers.mode).toHaveBeenCalledWith("grad");
    expect(saved).toEqual([]);
  });

  it("reads the traits back into the controls, with the current method list", () => {
    const { el, state, toolbar } = mount();
    Object.assign(state, {
      methods: ["attn", "grad", "rollout"],
      mode: "rollout",
      head_reduce: "min",
      colormap: "viridis",
      opacity: 0.3,
      smooth: false,
    });
    toolbar.sync();
    const method = byTestId<HTMLSelectElement>(el, "method");
    expect(Array.from(method.options, (o) => o.value)).toEqual([
      "attn",
      "grad",
      "rollout",
    ]);
    expect(method.value).toBe("rollout");
    expect(byTestId<HTMLSelectElement>(el, "head-reduce").value).toBe("min");
    expect(byTestId<HTMLSelectElement>(el, "colormap").value).toBe("viridis");
    expect(byTestId<HTMLInputElement>(el, "opacity").value).toBe("0.3");
    expect(byTestId<HTMLInputElement>(el, "smooth").checked).toBe(false);
  });

  it("computes all tokens: sends the request and stays busy until the last progress message", () => {
    const { el, sent, toolbar, handlers } = mount();
    const button = byTestId<HTMLButtonElement>(el, "compute-all");
    toolbar.showComputeAll(true);
    expect(button.hidden).toBe(false);
    button.click();
    expect(sent).toEqual([{ type: "compute_all" }]);
    expect(handlers.computeAll).toHaveBeenCalledOnce();
    expect(toolbar.computing).toBe(true);
    toolbar.progress(2, 5);
    const bar = el.querySelector<HTMLProgressElement>(".vlsw-progress")!;
    expect([bar.hidden, bar.value, bar.max]).toEqual([false, 2, 5]);
    toolbar.progress(5, 5);
    expect(toolbar.computing).toBe(false);
    expect(bar.hidden).toBe(true);
    toolbar.showComputeAll(false);
    expect(button.hidden).toBe(true);
  });

  it("shows the busy mark only while busy, and Save PNG asks the view", () => {
    const { el, toolbar, handlers } = mount();
    toolbar.setBusy(true);
    expect(byTestId(el, "busy").hidden).toBe(false);
    toolbar.setBusy(false);
    expect(byTestId(el, "busy").hidden).toBe(true);
    byTestId(el, "save-png").click();
    expect(handlers.save).toHaveBeenCalledOnce();
  });

  it("in an exported page, fixes the aggregation and keeps the method menu and the look controls", () => {
    const { el, toolbar } = mount(false);
    for (const id of ["layer-reduce", "head-reduce"])
      expect(byTestId<HTMLSelectElement>(el, id).disabled).toBe(true);
    for (const id of ["method", "colormap"])
      expect(byTestId<HTMLSelectElement>(el, id).disabled).toBe(false);
    toolbar.showComputeAll(true);
    expect(byTestId(el, "compute-all").hidden).toBe(true);
  });
});

describe("image tabs", () => {
  const picture = {
    png: new DataView(new ArrayBuffer(0)),
    width: 1,
    height: 1,
  };

  it("marks the shown image and asks for another on a click", () => {
    const { model, state } = fakeModel({ images: [picture, picture] });
    const show = vi.fn();
    const tabs = createImageTabs(
      model,
      true,
      show,
      new AbortController().signal,
    );
    tabs.sync();
    const tab = (i: number) =>
      tabs.element.querySelector<HTMLButtonElement>(`[data-image="${i}"]`)!;
    expect(tabs.element.hidden).toBe(false);
    expect(tab(0).classList.contains("selected")).toBe(true);
    tab(1).click();
    expect(show).toHaveBeenCalledWith(1);
    state.image_index = 1;
    tabs.sync();
    expect(tab(0).classList.contains("selected")).toBe(false);
    expect(tab(1).classList.contains("selected")).toBe(true);
  });

  it("is hidden with one picture and off without a kernel", () => {
    const signal = new AbortController().signal;
    const one = createImageTabs(
      fakeModel({ images: [picture] }).model,
      true,
      vi.fn(),
      signal,
    );
    expect(one.element.hidden).toBe(true);
    const offline = createImageTabs(
      fakeModel({ images: [picture, picture] }).model,
      false,
      vi.fn(),
      signal,
    );
    const buttons = offline.element.querySelectorAll("button");
    expect(Array.from(buttons, (b) => b.disabled)).toEqual([true, true]);
  });
});
