// The token strip: prompt and generated tokens, special ones dimmed, image-token runs collapsed into chips,
// each token tinted by how much it attends to the image. Token text is only ever set with textContent.

/** One entry of the strip: a text token, or a run of image tokens shown as one chip. */
export type StripItem =
  | {
      kind: "token";
      position: number;
      text: string;
      special: boolean;
      generated: boolean;
      mappable: boolean;
      grounding: number;
    }
  | { kind: "image"; image: number; start: number; count: number };

export interface StripInput {
  strings: string[];
  special: boolean[];
  imageOf: ArrayLike<number>;
  genStart: number;
  mappable: ArrayLike<number>;
  grounding: ArrayLike<number>;
}

// Byte-level BPE (GPT-2 style) and SentencePiece spell spaces and newlines with these stand-ins.
const STAND_INS: Record<string, string> = {
  Ġ: " ",
  "▁": " ",
  Ċ: "\n",
  ĉ: "\t",
};

/** How a tokenizer's spelling of a token reads: stand-in characters back to spaces, newlines and tabs. */
export function displayText(raw: string): string {
  return raw.replace(/[Ġ▁Ċĉ]/g, (c) => STAND_INS[c]).replace(/<0x0A>/g, "\n");
}

/** The strip's entries in sequence order; consecutive tokens of the same image become one chip. */
export function stripItems(input: StripInput): StripItem[] {
  const mappable = new Set(Array.from(input.mappable));
  const items: StripItem[] = [];
  for (let position = 0; position < input.strings.length; position++) {
    const image = input.imageOf[position];
    if (image >= 0) {
      const last = items[items.length - 1];
      if (
        last?.kind === "image" &&
        last.image === image &&
        last.start + last.count === position
      ) {
        last.count += 1;
      } else {
        items.push({ kind: "image", image, start: position, count: 1 });
      }
      continue;
    }
    items.push({
      kind: "token",
      position,
      text: displayText(input.strings[position]),
      special: input.special[position],
      generated: position >= input.genStart,
      mappable: mappable.has(position),
      grounding: input.grounding[position] ?? 0,
    });
  }
  return items;
}

export interface StripHandlers {
  select(position: number): void;
  hover(position: number | null): void;
  step(delta: 1 | -1): void;
  image(index: number): void;
}

export interface TokenStrip {
  element: HTMLElement;
  /** Mark the selected token (scrolled into view when it changes) and the shown image. */
  show(position: number, image: number): void;
  /** Mark tokens whose map is not computed yet for the current method. */
  setPending(pending: (position: number) => boolean): void;
}

/** Build the strip's DOM; listeners are removed when `signal` aborts. */
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
  const tokens = new Map<number, HTMLElement>();
  const chips: HTMLElement[] = [];
  for (const item of items) {
    if (item.kind === "image") {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "vlsw-image-chip";
      chip.dataset.testid = "image-chip";
      chip.dataset.image = String(item.image);
      chip.textContent = `image ${item.image + 1} · ${item.count} tokens`;
      chip.addEventListener("click", () => handlers.image(item.image), {
        signal,
      });
      chips.push(chip);
      element.append(chip);
      continue;
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
    span.textContent = item.text;
    span.title = `position ${item.position}${item.mappable ? "" : " (no map)"}`;
    if (item.mappable) {
      span.setAttribute("role", "option");
      span.addEventListener("click", () => handlers.select(item.position), {
        signal,
      });
      span.addEventListener("mouseenter", () => handlers.hover(item.position), {
        signal,
      });
      tokens.set(item.position, span);
    }
    element.append(span);
  }
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
  let shown: number | null = null;
  return {
    element,
    show(position, image) {
      for (const [p, span] of tokens) {
        span.classList.toggle("selected", p === position);
        span.setAttribute("aria-selected", String(p === position));
      }
      for (const chip of chips)
        chip.classList.toggle("selected", chip.dataset.image === String(image));
      // Scroll only when the selection moves, never under a pointer that is hovering the strip.
      if (position !== shown) {
        tokens
          .get(position)
          ?.scrollIntoView?.({ block: "nearest", inline: "nearest" });
        shown = position;
      }
    },
    setPending(pending) {
      for (const [p, span] of tokens)
        span.classList.toggle("pending", pending(p));
    },
  };
}
