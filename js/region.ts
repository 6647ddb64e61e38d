// Image to text: click a cell or drag a box on the picture; the kernel scores every token by what its map puts
// there (`trace.tokens_for`), the strip tints tokens by their score and the picture outlines the region.
import { decodeFloat32 } from "./codec";
import type { RegionScores } from "./model";
import type { RegionScore } from "./tokens";

/** A drag shorter than this many CSS pixels is a click: the cell under the pointer. */
const CLICK_SLOP = 4;

/** What the view sends the kernel: a point or a box as fractions of the picture, or neither to clear. */
export type RegionMessage =
  | { type: "region"; point: [number, number] }
  | { type: "region"; box: [number, number, number, number] }
  | { type: "region" };

/** The message for a press at `start` and a release at `end`, both in CSS pixels of a `width` x `height` picture. */
export function regionMessage(
  start: [number, number],
  end: [number, number],
  width: number,
  height: number,
): RegionMessage {
  const clamp = (v: number) => Math.min(1, Math.max(0, v));
  const [x0, y0] = [clamp(start[0] / width), clamp(start[1] / height)];
  const [x1, y1] = [clamp(end[0] / width), clamp(end[1] / height)];
  if (
    Math.abs(end[0] - start[0]) < CLICK_SLOP &&
    Math.abs(end[1] - start[1]) < CLICK_SLOP
  )
    return { type: "region", point: [x0, y0] };
  return {
    type: "region",
    box: [
      Math.min(x0, x1),
      Math.min(y0, y1),
      Math.max(x0, x1),
      Math.max(y0, y1),
    ],
  };
}

/** The region's scores as the strip shows them: each token's score and tint, and the top score. */
export interface RegionTints {
  /** Per position: its score, tinted by the score over the top one (negative scores 0); null where the token has
   * no map (NaN). */
  score(position: number): RegionScore | null;
  /** The largest score (0 when none is positive). */
  top: number;
}

/** The tints of `state`'s scores, or null without scores or when they belong to another image. */
export function scoreTints(
  state: RegionScores | Record<string, never>,
  image: number,
): RegionTints | null {
  if (!("scores" in state) || state.image_index !== image) return null;
  const scores = decodeFloat32(state.scores).data;
  let top = 0;
  for (const s of scores) if (Number.isFinite(s) && s > top) top = s;
  return {
    top,
    score(position) {
      const s = scores[position];
      if (s === undefined || !Number.isFinite(s)) return null;
      return { value: s, tint: top > 0 ? Math.max(0, s) / top : 0 };
    },
  };
}

export interface RegionTool {
  /** The "clear region" button, for the toolbar. */
  clear: HTMLButtonElement;
  /** Outline `box` (fractions of the picture) on the picture, or nothing. */
  show(box: [number, number, number, number] | null): void;
}

/**
 * Listen for clicks and drags on `canvas` (inside `frame`, which holds the outline) and hand each to `send`.
 * Listeners are removed when `signal` aborts.
 */
export function createRegionTool(
  canvas: HTMLCanvasElement,
  frame: HTMLElement,
  send: (message: RegionMessage) => void,
  signal: AbortSignal,
): RegionTool {
  const outline = document.createElement("div");
  outline.className = "vlsw-region";
  outline.dataset.testid = "region";
  outline.hidden = true;
  const rubber = document.createElement("div");
  rubber.className = "vlsw-region dragging";
  rubber.hidden = true;
  frame.append(outline, rubber);
  const clear = document.createElement("button");
  clear.type = "button";
  clear.className = "vlsw-button";
  clear.textContent = "clear region";
  clear.dataset.testid = "clear-region";
  clear.hidden = true;
  clear.addEventListener("click", () => send({ type: "region" }), { signal });

  const place = (node: HTMLElement, box: [number, number, number, number]) => {
    node.style.left = `${box[0] * 100}%`;
    node.style.top = `${box[1] * 100}%`;
    node.style.width = `${(box[2] - box[0]) * 100}%`;
    node.style.height = `${(box[3] - box[1]) * 100}%`;
  };
  let start: [number, number] | null = null;
  const at = (event: PointerEvent): [number, number] => {
    const rect = canvas.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  };
  /** The region from the drag's start to the pointer now. */
  const messageTo = (event: PointerEvent, from: [number, number]) =>
    regionMessage(from, at(event), canvas.clientWidth, canvas.clientHeight);
  canvas.addEventListener(
    "pointerdown",
    (event) => {
      if (event.button !== 0) return;
      start = at(event);
      canvas.setPointerCapture?.(event.pointerId);
      event.preventDefault();
    },
    { signal },
  );
  canvas.addEventListener(
    "pointermove",
    (event) => {
      if (!start) return;
      const message = messageTo(event, start);
      rubber.hidden = !("box" in message);
      if ("box" in message) place(rubber, message.box);
    },
    { signal },
  );
  canvas.addEventListener(
    "pointerup",
    (event) => {
      if (!start) return;
      const message = messageTo(event, start);
      start = null;
      rubber.hidden = true;
      send(message);
    },
    { signal },
  );

  return {
    clear,
    show(box) {
      outline.hidden = box === null;
      clear.hidden = box === null;
      if (box) place(outline, box);
    },
  };
}
