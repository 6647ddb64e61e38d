// What the token strip shows, before any DOM: runs of image tokens collapsed into one chip per image, and each
// entry's label. Pure functions of the trace's token info; the kernel sends each token's text with the
// tokenizer's stand-ins for spaces and newlines already read back.
import { decode } from "./codec";
import type { TokenInfo } from "./model";

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
      /** Why the token has no map ("" when it has one). */
      unmapped: string;
    }
  | { kind: "image"; image: number; start: number; count: number };

export interface StripInput {
  text: string[];
  special: boolean[];
  imageOf: ArrayLike<number>;
  genStart: number;
  mappable: ArrayLike<number>;
  grounding: ArrayLike<number>;
}

/** The strip's input from the `tokens` trait. */
export function stripInput(info: TokenInfo): StripInput {
  return {
    text: info.text,
    special: info.special,
    imageOf: decode(info.image_of).data,
    genStart: info.gen_start,
    mappable: decode(info.mappable).data,
    grounding: decode(info.grounding).data,
  };
}

/** The strip's entries in sequence order; consecutive tokens of the same image become one chip. */
export function stripItems(input: StripInput): StripItem[] {
  const mappable = new Set(Array.from(input.mappable));
  const items: StripItem[] = [];
  for (let position = 0; position < input.text.length; position++) {
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
      text: input.text[position],
      special: input.special[position],
      generated: position >= input.genStart,
      mappable: mappable.has(position),
      grounding: input.grounding[position] ?? 0,
      unmapped: mappable.has(position)
        ? ""
        : unmappedReason(position, input.imageOf),
    });
  }
  return items;
}

/**
 * Why the text token at `position` has no map: a token is mapped from the row of the token before it (the row that
 * predicted it), which must be a text row the capture kept.
 */
export function unmappedReason(
  position: number,
  imageOf: ArrayLike<number>,
): string {
  if (position === 0)
    return "nothing comes before the first token, so no row predicted it";
  if (imageOf[position - 1] >= 0)
    return "the token before it, which predicted it, is an image token: image rows are not kept";
  return 'the row that predicted it was not captured (rows="answer" keeps only the answer\'s rows)';
}

/** What one entry shows: token text with line breaks drawn as ↵ (the line ends after it), or a chip's label. */
export function itemLabel(item: StripItem): string {
  return item.kind === "image"
    ? `image ${item.image + 1} · ${item.count} tokens`
    : item.text.replace(/\n/g, "↵");
}
