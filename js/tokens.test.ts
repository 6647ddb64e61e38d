// @vitest-environment happy-dom
import { describe, expect, it, vi } from "vitest";
import { createTokenStrip, layoutLines, LINE_HEIGHT } from "./tokens";
import { stripItems, type StripInput } from "./tokentext";

// Token text as the kernel sends it: the tokenizer's stand-ins ("Ċ", "Ġ") already read back.
const input: StripInput = {
  text: [
    "<bos>",
    "Hi",
    "<img>",
    "<img>",
    "<img>",
    "\n",
    "<img>",
    "<img>",
    " <b>x</b>",
    "<eos>",
  ],
  special: [true, false, true, true, true, false, true, true, false, true],
  imageOf: [-1, -1, 0, 0, 0, -1, 1, 1, -1, -1],
  genStart: 8,
  mappable: [1, 5, 8, 9],
  grounding: [0, 0.25, 0, 0, 0, 1, 0, 0, 0.5, 0],
};

function mount() {
  const handlers = {
    select: vi.fn(),
    hover: vi.fn(),
    step: vi.fn(),
    image: vi.fn(),
  };
  const controller = new AbortController();
  const strip = createTokenStrip(
    stripItems(input),
    handlers,
    controller.signal,
  );
  document.body.replaceChildren(strip.element);
  return { strip, handlers, controller };
}

describe("token strip", () => {
  it("collapses each image's run of tokens into one chip", () => {
    const items = stripItems(input);
    expect(
      items.map((item) =>
        item.kind === "image"
          ? `image${item.image}x${item.count}`
          : item.position,
      ),
    ).toEqual([0, 1, "image0x3", 5, "image1x2", 8, 9]);
  });

  it("gives each token its absolute position, kind and tint, with its text as text, never markup", () => {
    mount();
    const tokens = [
      ...document.querySelectorAll<HTMLElement>('[data-testid="token"]'),
    ];
    expect(tokens.map((t) => t.dataset.index)).toEqual([
      "0",
      "1",
      "5",
      "8",
      "9",
    ]);
    const html = tokens.find((t) => t.dataset.index === "8");
    expect(html?.textContent).toBe(" <b>x</b>");
    expect(html?.querySelector("b")).toBeNull();
    expect(html?.classList.contains("generated")).toBe(true);
    expect(tokens[0].classList.contains("special")).toBe(true);
    expect(tokens[0].classList.contains("mappable")).toBe(false);
    expect(tokens.find((t) => t.dataset.index === "5")?.textContent).toBe("↵");
    expect(tokens.find((t) => t.dataset.index === "1")?.dataset.grounding).toBe(
      "0.250",
    );
    expect(
      document.querySelectorAll('[data-testid="image-chip"]'),
    ).toHaveLength(2);
  });

  it("selects on click, previews on hover and steps with the arrow keys, for mappable tokens only", () => {
    const { handlers } = mount();
    const token = (i: number) =>
      document.querySelector<HTMLElement>(`[data-index="${i}"]`);
    token(8)?.click();
    token(0)?.click();
    expect(handlers.select.mock.calls).toEqual([[8]]);
    token(5)?.dispatchEvent(new MouseEvent("mouseenter"));
    document
      .querySelector(".vlsw-strip")
      ?.dispatchEvent(new MouseEvent("mouseleave"));
    expect(handlers.hover.mock.calls).toEqual([[5], [null]]);
    const strip = document.querySelector(".vlsw-strip");
    strip?.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight" }));
    strip?.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowLeft" }));
    expect(handlers.step.mock.calls).toEqual([[1], [-1]]);
    document
      .querySelector<HTMLElement>('[data-testid="image-chip"][data-image="1"]')
      ?.click();
    expect(handlers.image.mock.calls).toEqual([[1]]);
  });

  it("marks the selection and the shown image, and stops listening once aborted", () => {
    const { strip, handlers, controller } = mount();
    strip.show(5, 1, 8);
    expect(
      document.querySelector('[data-index="5"]')?.getAttribute("aria-selected"),
    ).toBe("true");
    expect(
      document.querySelector('[data-index="1"]')?.getAttribute("aria-selected"),
    ).toBe("false");
    expect(
      document
        .querySelector('[data-image="1"]')
        ?.classList.contains("selected"),
    ).toBe(true);
    expect(
      document
        .querySelector('[data-index="8"]')
        ?.classList.contains("compared"),
    ).toBe(true);
    controller.abort();
    document.querySelector<HTMLElement>('[data-index="8"]')?.click();
    expect(handlers.select).not.toHaveBeenCalled();
  });

  it("breaks lines where an entry would overflow and after a line break", () => {
    const items = stripItems(input);
    // entries: 0, 1, image0, 5 ("\n"), image1, 8, 9
    expect(layoutLines(items, [10, 10, 30, 10, 30, 10, 10], 60)).toEqual([
      0, 4,
    ]);
    expect(layoutLines(items, [10, 10, 30, 10, 30, 10, 10], 40)).toEqual([
      0, 2, 4, 6,
    ]);
  });

  it("keeps only the lines in view in the DOM, and brings the selected token's line in", () => {
    const text = Array.from({ length: 2000 }, (_, i) => `word${i}`);
    const many: StripInput = {
      text,
      special: text.map(() => false),
      imageOf: text.map(() => -1),
      genStart: 1000,
      mappable: text.map((_, i) => i),
      grounding: text.map(() => 0),
    };
    const controller = new AbortController();
    const strip = createTokenStrip(
      stripItems(many),
      { select: vi.fn(), hover: vi.fn(), step: vi.fn(), image: vi.fn() },
      controller.signal,
    );
    document.body.replaceChildren(strip.element);
    const count = () =>
      document.querySelectorAll('[data-testid="token"]').length;
    expect(count()).toBeGreaterThan(0);
    expect(count()).toBeLessThan(400);
    expect(document.querySelector('[data-index="1900"]')).toBeNull();
    strip.show(1900, 0, null);
    expect(
      document
        .querySelector('[data-index="1900"]')
        ?.getAttribute("aria-selected"),
    ).toBe("true");
    expect(count()).toBeLessThan(400);
    const lines = strip.element.querySelector<HTMLElement>(".vlsw-lines");
    expect(parseFloat(lines?.style.height ?? "0") % LINE_HEIGHT).toBe(0);
    controller.abort();
  });
});
