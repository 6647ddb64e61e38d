// The token strip on screen: prompt and generated tokens, special ones dimmed, image-token runs shown as chips,
// each token tinted by how much it attends to the image. The entries and their text come from tokentext.ts; this
// module lays them out in lines and keeps only the lines in view in the DOM. Token text is only ever set with
// textContent.

import { formatValue } from "./heatmap";
import {
  relianceText,
  type AttributionMark,
  type RelianceMark,
} from "./reliance";
import { itemLabel, type StripItem } from "./tokentext";

export interface StripHandlers {
  select(position: number): void;
  /** The pointer entered a token (mappable or not), or left the strip (null). */
  hover(position: number | null): void;
  step(delta: 1 | -1): void;
  image(index: number): void;
}

/** A token's score on the picked region: its value and its tint in [0, 1] (the value over the top score). */
export interface RegionScore {
  value: number;
  tint: number;
}

export interface TokenStrip {
  element: HTMLElement;
  /** Mark the selected token (scrolled into view when it changes), the token compared with (or null) and the
   * shown image. */
  show(position: number, image: number, compared: number | null): void;
  /** Mark tokens whose map is not computed yet for the current method. */
  setPending(pending: (position: number) => boolean): void;
  /** Tint each token by its score for the picked region and put the number in its tooltip (null: the token has
   * no score), or none without a region. */
  setScores(score: ((position: number) => RegionScore | null) | null): void;
  /** Draw a bar under each answer token for how much it relies on the image, its numbers in the tooltip. */
  setReliance(mark: ((position: number) => RelianceMark | null) | null): void;
  /** Tint each token by the selected token's attribution to it (null: no tint), as bertviz does for text. */
  setAttribution(
    mark: ((position: number) => AttributionMark | null) | null,
    label: string,
  ): void;
}

/** Height of one line of the strip in CSS pixels (styles.css sets the same on `.vlsw-line`). */
export const LINE_HEIGHT = 24;
/** Lines drawn above and below the visible ones, so that a short scroll never shows an empty band. */
const OVERSCAN_LINES = 6;
/** Width assumed before the strip is on the page (and where layout is not computed, as in unit tests). */
const FALLBACK_WIDTH = 800;
/** Horizontal room an image chip takes beyond its text: padding, border and margin (styles.css). */
const CHIP_EXTRA = 22;

/**
 * Break the entries into lines of at most `width` pixels, the way `white-space: pre-wrap` would: an entry goes on
 * the next line when it does not fit, and a token holding a line break ends its line.
 * Returns the index of the first entry of each line.
 */
export function layoutLines(
  items: StripItem[],
  widths: ArrayLike<number>,
  width: number,
): number[] {
  const starts: number[] = [];
  let x = 0;
  let breakAfter = true;
  items.forEach((item, i) => {
    if (breakAfter || (x > 0 && x + widths[i] > width)) {
      starts.push(i);
      x = 0;
    }
    x += widths[i];
    breakAfter = item.kind === "token" && item.text.includes("\n");
  });
  return starts;
}

function textMeasurer(
  element: HTMLElement,
): (text: string, chip: boolean) => number {
  const context = document.createElement("canvas").getContext?.("2d");
  const style = getComputedStyle(element);
  const size = parseFloat(style.fontSize) || 13;
  if (!context)
    return (text, chip) =>
      text.length * size * (chip ? 0.5 : 0.62) + (chip ? CHIP_EXTRA : 0);
  context.font = style.font || `${size}px monospace`;
  const chipScale = 11 / size;
  return (text, chip) => {
    const w = context.measureText(text).width;
    return chip ? w * chipScale + CHIP_EXTRA : w;
  };
}

/**
 * Build the strip. Only the lines in view (and a few around them) are in the DOM, so a trace of thousands of
 * tokens costs a few hundred elements; lines are computed from measured text widths and recomputed when the
 * strip's width changes. Listeners are removed when `signal` aborts.
 */
export function createTokenStrip(
  items: StripItem[],
  handlers: StripHandlers,
  signal: AbortSignal,
): TokenStrip {
  const element = document.createElement("div");
  element.className = "vlsw-strip";
  element.tabIndex = 0;
  element.setAttribute("role", "listbox");
  element.setAttribute("aria-label", "tokens");
  const body = document.createElement("div");
  body.className = "vlsw-lines";
  element.append(body);

  const itemOf = new Map<number, number>();
  items.forEach((item, i) => {
    if (item.kind === "token") itemOf.set(item.position, i);
  });
  let starts: number[] = [];
  let laidOutWidth = -1;
  const rendered = new Map<number, HTMLElement>();
  let selected: number | null = null;
  let compared: number | null = null;
  let shownImage = -1;
  let pending: (position: number) => boolean = () => false;
  let score: ((position: number) => RegionScore | null) | null = null;
  let reliance: ((position: number) => RelianceMark | null) | null = null;
  let attribution: ((position: number) => AttributionMark | null) | null = null;
  let attributionLabel = "";
  /** Each rendered token's tooltip before its region score is added. */
  const tips = new WeakMap<HTMLElement, string>();

  function lineOf(index: number): number {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  const viewHeight = () =>
    element.clientHeight > 0 ? element.clientHeight : 5 * LINE_HEIGHT;

  function layout(): void {
    const width =
      element.clientWidth > 0 ? element.clientWidth - 10 : FALLBACK_WIDTH;
    if (width === laidOutWidth) return;
    laidOutWidth = width;
    const measure = textMeasurer(element);
    const widths = items.map((item) =>
      measure(itemLabel(item), item.kind === "image"),
    );
    starts = layoutLines(items, widths, width);
    body.style.height = `${starts.length * LINE_HEIGHT}px`;
    for (const line of rendered.values()) line.remove();
    rendered.clear();
  }

  function decorate(node: HTMLElement): void {
    if (node.dataset.testid === "image-chip") {
      node.classList.toggle(
        "selected",
        node.dataset.image === String(shownImage),
      );
      return;
    }
    const position = Number(node.dataset.index);
    const isSelected = position === selected;
    node.classList.toggle("selected", isSelected);
    node.classList.toggle("compared", position === compared);
    if (node.classList.contains("mappable")) {
      node.setAttribute("aria-selected", String(isSelected));
      node.classList.toggle("pending", pending(position));
    }
    const value = score ? score(position) : null;
    node.classList.toggle("scored", value !== null);
    const tip = tips.get(node) ?? "";
    let title = tip;
    if (value === null) {
      if (node.dataset.region !== undefined) {
        delete node.dataset.region;
        node.style.removeProperty("--region");
      }
    } else {
      node.dataset.region = value.tint.toFixed(3);
      node.style.setProperty("--region", String(value.tint));
      title = `${tip}\nregion score ${formatValue(value.value)} (${Math.round(value.tint * 100)}% of the top score)`;
    }
    const relies = reliance ? reliance(position) : null;
    if (relies === null) {
      if (node.dataset.reliance !== undefined) {
        delete node.dataset.reliance;
        delete node.dataset.fromImage;
        node.classList.remove("relies", "from-image", "gains");
        node.style.removeProperty("--reliance");
      }
    } else {
      node.dataset.reliance = relies.delta.toFixed(4);
      node.dataset.fromImage = relies.fromImage ? "yes" : "no";
      node.classList.add("relies");
      node.classList.toggle("from-image", relies.fromImage);
      node.classList.toggle("gains", relies.delta < 0);
      node.style.setProperty("--reliance", relies.length.toFixed(3));
      title = `${title}\n${relianceText(relies)}`;
    }
    const drawn = attribution ? attribution(position) : null;
    node.classList.toggle("attributed", drawn !== null);
    if (drawn === null) {
      if (node.dataset.attribution !== undefined) {
        delete node.dataset.attribution;
        node.style.removeProperty("--attribution");
      }
    } else {
      node.dataset.attribution = drawn.value.toFixed(4);
      node.style.setProperty("--attribution", drawn.tint.toFixed(3));
      title = `${title}\n${attributionLabel} attends to it: ${formatValue(drawn.value)} (${Math.round(drawn.tint * 100)}% of the largest)`;
    }
    // Written only when it changes: every hover redecorates the tokens in view.
    if (node.title !== title) node.title = title;
  }

  function build(item: StripItem): HTMLElement {
    if (item.kind === "image") {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "vlsw-image-chip";
      chip.dataset.testid = "image-chip";
      chip.dataset.image = String(item.image);
      chip.textContent = itemLabel(item);
      chip.addEventListener("click", () => handlers.image(item.image), {
        signal,
      });
      decorate(chip);
      return chip;
    }
    const span = document.createElement("span");
    span.className = "vlsw-token";
    span.classList.toggle("special", item.special);
    span.classList.toggle("generated", item.generated);
    span.classList.toggle("mappable", item.mappable);
    span.dataset.testid = "token";
    span.dataset.index = String(item.position);
    span.dataset.grounding = item.grounding.toFixed(3);
    span.style.setProperty("--grounding", String(item.grounding));
    span.textContent = itemLabel(item);
    tips.set(
      span,
      item.mappable
        ? `position ${item.position}`
        : `position ${item.position}: no map, ${item.unmapped}`,
    );
    if (item.mappable) {
      span.setAttribute("role", "option");
      span.addEventListener("click", () => handlers.select(item.position), {
        signal,
      });
    }
    span.addEventListener("mouseenter", () => handlers.hover(item.position), {
      signal,
    });
    decorate(span);
    return span;
  }

  /** Put the lines in view into the DOM and take the others out. */
  function draw(): void {
    layout();
    const height = viewHeight();
    const first = Math.max(
      0,
      Math.floor(element.scrollTop / LINE_HEIGHT) - OVERSCAN_LINES,
    );
    const last = Math.min(
      starts.length - 1,
      Math.ceil((element.scrollTop + height) / LINE_HEIGHT) + OVERSCAN_LINES,
    );
    for (const [index, line] of rendered) {
      if (index < first || index > last) {
        line.remove();
        rendered.delete(index);
      }
    }
    for (let index = first; index <= last; index++) {
      if (rendered.has(index)) continue;
      const line = document.createElement("div");
      line.className = "vlsw-line";
      line.style.top = `${index * LINE_HEIGHT}px`;
      const end = index + 1 < starts.length ? starts[index + 1] : items.length;
      for (let i = starts[index]; i < end; i++) line.append(build(items[i]));
      rendered.set(index, line);
      body.append(line);
    }
  }

  function redecorate(): void {
    for (const line of rendered.values())
      for (const node of line.children) decorate(node as HTMLElement);
  }

  element.addEventListener("scroll", draw, { signal, passive: true });
  element.addEventListener("mouseleave", () => handlers.hover(null), {
    signal,
  });
  element.addEventListener(
    "keydown",
    (event) => {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      event.preventDefault();
      event.stopPropagation();
      handlers.step(event.key === "ArrowRight" ? 1 : -1);
    },
    { signal },
  );
  if (typeof ResizeObserver !== "undefined") {
    const observer = new ResizeObserver(() => draw());
    observer.observe(element);
    signal.addEventListener("abort", () => observer.disconnect());
  }
  draw();

  let scrolledTo: number | null = null;
  return {
    element,
    show(position, image, against) {
      selected = position;
      compared = against;
      element.classList.toggle("comparing", against !== null);
      shownImage = image;
      // Scroll only when the selection moves, never under a pointer that is hovering the strip.
      const index = itemOf.get(position);
      if (position !== scrolledTo && index !== undefined) {
        scrolledTo = position;
        layout();
        const top = lineOf(index) * LINE_HEIGHT;
        const height = viewHeight();
        if (top < element.scrollTop) element.scrollTop = top;
        else if (top + LINE_HEIGHT > element.scrollTop + height)
          element.scrollTop = top + LINE_HEIGHT - height;
      }
      draw();
      redecorate();
    },
    setPending(fn) {
      pending = fn;
      redecorate();
    },
    setScores(fn) {
      score = fn;
      redecorate();
    },
    setReliance(fn) {
      reliance = fn;
      redecorate();
    },
    setAttribution(fn, label) {
      attribution = fn;
      attributionLabel = label;
      redecorate();
    },
  };
}
