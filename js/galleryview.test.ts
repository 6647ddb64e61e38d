// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from "vitest";
import type {
  GalleryModel,
  GalleryTraits,
  ItemsMessage,
  ItemsRequest,
} from "./gallerymodel";
import { mount, type PageData } from "./gallerystandalone";
import { mountGallery, type ChildWidgets } from "./galleryview";
import { localModel } from "./localmodel";

const TOTAL = 10_000;

function int32(values: number[]) {
  const array = Int32Array.from(values);
  return {
    data: new DataView(array.buffer),
    dtype: "int32" as const,
    shape: [array.length],
  };
}

function traits(): GalleryTraits {
  return {
    total: TOTAL,
    columns: [
      { name: "question", kind: "text", per_token: false },
      { name: "reliance", kind: "number", per_token: false },
    ],
    methods: [
      { name: "attn", precomputed: true, note: "" },
      { name: "rollout", precomputed: false, note: "not precomputed: run …" },
    ],
    method: "attn",
    token: "first",
    reductions: [{ name: "mean", precomputed: true, note: "" }],
    sort_by: "",
    descending: false,
    filters: [],
    order: { indices: int32([...Array(TOTAL).keys()]), values: null },
    colormap: "inferno",
    opacity: 0.6,
    opened: -1,
    detail: null,
    error: "",
  };
}

/** The kernel's answer to `request`: every card ok, a 1 x 2 map each, no picture. */
function answer(request: ItemsRequest): [ItemsMessage, DataView[]] {
  const maps = new Float32Array(request.indices.length * 2).map((_, i) => i);
  return [
    {
      type: "items",
      id: request.id,
      method: "attn",
      token: "first",
      items: request.indices.map((index, k) => ({
        index,
        id: `s${index}`,
        status: "ok",
        question: `question ${index}`,
        answer: `answer ${index}`,
        error: "",
        map: [2 * k, 1, 2],
        picture: null,
      })),
      maps: { buffer: 0, dtype: "float32", shape: [maps.length] },
      pictures: { buffer: 1, dtype: "uint8", shape: [0] },
    },
    [new DataView(maps.buffer), new DataView(new ArrayBuffer(0))],
  ];
}

let el: HTMLElement;
let model: GalleryModel;
let emit: (content: unknown, buffers: DataView[]) => void;
let sent: ItemsRequest[];

beforeEach(() => {
  el = document.createElement("div");
  document.body.replaceChildren(el);
  const local = localModel<GalleryTraits, GalleryModel>(traits());
  model = local.model;
  emit = local.emit;
  sent = [];
  local.answer((message) => sent.push(message as ItemsRequest));
});

const cards = () =>
  [...el.querySelectorAll<HTMLElement>("[data-testid=gallery-card]")].filter(
    (card) => !card.hidden,
  );
const reply = () => emit(...answer(sent[sent.length - 1]));

describe("the gallery's grid", () => {
  it("holds only the cards in view of 10,000, and asks for just those with their pictures", () => {
    mountGallery(model, el, { live: true });
    const shown = cards();
    expect(shown.length).toBeGreaterThan(6);
    expect(shown.length).toBeLessThan(60);
    expect(sent).toHaveLength(1);
    expect(sent[0].indices).toEqual(shown.map((c) => Number(c.dataset.index)));
    expect(sent[0].pictures).toEqual(sent[0].indices);
    expect(el.querySelector("[data-testid=gallery-count]")?.textContent).toBe(
      "10,000 samples",
    );
  });

  it("fills the cards from the answer, and scrolling asks for the new ones only once the answer came", () => {
    mountGallery(model, el, { live: true });
    reply();
    expect(cards()[0].querySelector(".vlsg-answer")?.textContent).toBe(
      "answer 0",
    );
    const viewport = el.querySelector<HTMLElement>(
      "[data-testid=gallery-grid]",
    )!;
    viewport.scrollTop = 222 * 1000;
    viewport.dispatchEvent(new Event("scroll"));
    expect(sent).toHaveLength(2);
    const far = sent[1].indices;
    expect(Math.min(...far)).toBeGreaterThan(5000);
    expect(cards().every((c) => Number(c.dataset.index) >= 5000)).toBe(true);
    viewport.scrollTop = 222 * 1001;
    viewport.dispatchEvent(new Event("scroll"));
    expect(sent).toHaveLength(2); // one request in flight at a time
    reply();
    expect(sent).toHaveLength(3); // the rows that came into view meanwhile
    expect(sent[2].indices.every((i) => !far.includes(i))).toBe(true);
  });

  it("binds sort, direction, filter and method to the traits", () => {
    mountGallery(model, el, { live: true });
    const sort = el.querySelector<HTMLSelectElement>(
      "[data-testid=gallery-sort]",
    )!;
    sort.value = "reliance";
    sort.dispatchEvent(new Event("change"));
    expect(model.get("sort_by")).toBe("reliance");
    el.querySelector<HTMLButtonElement>(
      "[data-testid=gallery-direction]",
    )!.click();
    expect(model.get("descending")).toBe(true);
    const column = el.querySelector<HTMLSelectElement>(
      "[data-testid=gallery-filter-column]",
    )!;
    column.value = "reliance";
    column.dispatchEvent(new Event("change"));
    const low = el.querySelector<HTMLInputElement>(
      "[data-testid=gallery-filter-min]",
    )!;
    expect(low.hidden).toBe(false);
    low.value = "0.5";
    low.dispatchEvent(new Event("change"));
    expect(model.get("filters")).toEqual([
      { column: "reliance", min: 0.5, max: null },
    ]);
    expect(
      el.querySelector("[data-testid=gallery-filter-chip]")?.textContent,
    ).toContain("reliance ≥ 0.5");
    low.value = "abc";
    low.dispatchEvent(new Event("change"));
    expect(low.hasAttribute("aria-invalid")).toBe(true);
    expect(model.get("filters")).toHaveLength(1);
  });

  it("keeps what is being typed against the kernel's echo, and clears a box the kernel's reset empties", () => {
    vi.useFakeTimers();
    mountGallery(model, el, { live: true });
    const box = (name: string) =>
      el.querySelector<HTMLInputElement>(
        `[data-testid=gallery-filter-${name}]`,
      )!;
    const column = el.querySelector<HTMLSelectElement>(
      "[data-testid=gallery-filter-column]",
    )!;
    column.value = "question";
    column.dispatchEvent(new Event("change"));
    box("text").value = "cir";
    box("text").dispatchEvent(new Event("input"));
    vi.advanceTimersByTime(250);
    box("text").value = "circ"; // typed while the echo of "cir" is on its way
    box("text").dispatchEvent(new Event("input"));
    model.set("filters", [{ column: "question", text: "cir" }]);
    model.save_changes();
    expect(box("text").value).toBe("circ");
    vi.advanceTimersByTime(250);
    expect(model.get("filters")).toEqual([
      { column: "question", text: "circ" },
    ]);
    column.value = "reliance";
    column.dispatchEvent(new Event("change"));
    box("min").value = "1.";
    box("min").dispatchEvent(new Event("input"));
    vi.advanceTimersByTime(350);
    expect(model.get("filters")[1]).toEqual({
      column: "reliance",
      min: 1,
      max: null,
    });
    expect(box("min").value).toBe("1."); // reads as the bound already
    model.set("filters", []);
    model.save_changes();
    expect(box("min").value).toBe("");
    vi.useRealTimers();
  });

  it("lists the methods the run did not precompute as disabled, under a heading that says so", () => {
    mountGallery(model, el, { live: true });
    const menu = el.querySelector<HTMLSelectElement>(
      "[data-testid=gallery-method]",
    )!;
    const rollout = menu.querySelector<HTMLOptionElement>(
      "option[value=rollout]",
    )!;
    expect(rollout.disabled).toBe(true);
    expect(rollout.title).toContain("not precomputed");
    expect((rollout.parentElement as HTMLOptGroupElement).label).toBe(
      "not precomputed",
    );
  });

  it("shows an error as text", () => {
    mountGallery(model, el, { live: true });
    model.set("error", "<b>bad</b>");
    model.save_changes();
    const banner = el.querySelector("[data-testid=gallery-error]")!;
    expect(banner.textContent).toBe("<b>bad</b>");
    expect(banner.querySelector("b")).toBeNull();
  });
});

describe("opening a sample", () => {
  it("asks the kernel for it, renders its widget in place and goes back to the grid", async () => {
    const render = vi.fn(() => Promise.resolve());
    const host: ChildWidgets = {
      getWidget: vi.fn(() => Promise.resolve({ render })),
    };
    mountGallery(model, el, { live: true, host });
    reply();
    cards()[2].click();
    expect(model.get("opened")).toBe(2);
    const root = el.querySelector<HTMLElement>(".vlsg-root")!;
    expect(root.dataset.view).toBe("detail");
    model.set("detail", "anywidget:abc");
    model.save_changes();
    await vi.waitFor(() => expect(render).toHaveBeenCalledTimes(1));
    expect(host.getWidget).toHaveBeenCalledWith("anywidget:abc");
    const { el: place, signal } = (
      render.mock.calls[0] as unknown as [
        { el: HTMLElement; signal: AbortSignal },
      ]
    )[0];
    expect(el.contains(place)).toBe(true);
    el.querySelector<HTMLButtonElement>("[data-testid=gallery-back]")!.click();
    expect(model.get("opened")).toBe(-1);
    expect(signal.aborted).toBe(true);
    expect(root.dataset.view).toBe("grid");
    expect(el.contains(place)).toBe(false);
  });
});

describe("an exported page", () => {
  function page(): unknown {
    const rows = [7, 3, 9];
    const maps = rows.map((row) => ({
      data: {
        $base64: btoa(
          String.fromCharCode(
            ...new Uint8Array(new Float32Array([row, 0]).buffer),
          ),
        ),
      },
      dtype: "float32",
      shape: [1, 2],
    }));
    const data: Omit<PageData, "pictures" | "maps"> & Record<string, unknown> =
      {
        page: 0,
        pages: 1,
        page_size: 3,
        shown: 3,
        rows,
        items: rows.map((index) => ({
          index,
          id: `s${index}`,
          status: "ok",
          question: `question ${index}`,
          answer: `answer ${index}`,
          error: "",
        })),
        pictures: [null, null, null],
        maps: { attn: { first: maps, mean: maps, max: maps } },
        table: {
          question: ["b", "c", "a"],
          reliance: [2, null, 1],
        },
      };
    const {
      order: _order,
      opened: _o,
      detail: _d,
      error: _e,
      ...rest
    } = traits();
    return { ...rest, total: 12, static: data };
  }

  it("sorts and filters its own samples and answers its cards without a kernel", async () => {
    mount(el, page());
    const shownRows = () => cards().map((c) => Number(c.dataset.index));
    expect(shownRows()).toEqual([7, 3, 9]);
    await vi.waitFor(() =>
      expect(cards()[0].querySelector(".vlsg-answer")?.textContent).toBe(
        "answer 7",
      ),
    );
    const sort = el.querySelector<HTMLSelectElement>(
      "[data-testid=gallery-sort]",
    )!;
    sort.value = "question";
    sort.dispatchEvent(new Event("change"));
    expect(shownRows()).toEqual([9, 7, 3]);
    sort.value = "reliance";
    sort.dispatchEvent(new Event("change"));
    expect(shownRows()).toEqual([9, 7, 3]);
    expect(cards()[0].querySelector(".vlsg-value")?.textContent).toBe(
      "reliance: 1",
    );
    expect(cards()[2].querySelector(".vlsg-value")?.textContent).toBe(
      "reliance: —",
    );
    const text = el.querySelector<HTMLInputElement>(
      "[data-testid=gallery-filter-text]",
    )!;
    vi.useFakeTimers();
    text.value = "B";
    text.dispatchEvent(new Event("input"));
    vi.runAllTimers();
    vi.useRealTimers();
    expect(shownRows()).toEqual([7]);
    expect(el.querySelector("[data-testid=gallery-count]")?.textContent).toBe(
      "1 of 3 samples",
    );
    expect(
      el.querySelector("[data-testid=gallery-heading]")?.textContent,
    ).toContain("Page 1 of 1");
    cards()[0].click();
    expect(el.querySelector<HTMLElement>(".vlsg-root")!.dataset.view).toBe(
      "grid",
    );
  });
});
