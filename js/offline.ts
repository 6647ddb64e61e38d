// The kernel of an exported page: it answers the view's messages and trait changes the way the notebook's kernel
// does, from the maps the page holds (the `static` part of its state, written by vl_saliency_widget/widget/static.py):
// every method's previews, the layers x heads maps of the answer's tokens, region scores summed from the previews
// (as `trace.tokens_for` sums a map over the region's cells) and differences of two maps (as `lib.difference`).
import { decode, decodeFloat32, type NDArray } from "./codec";
import { meanOfHeads } from "./headgrid";
import type { ArraySpec, Focus, Model, Previews, Traits } from "./model";
import type { RegionMessage } from "./region";

/** What the page holds for one method. */
export interface StaticMethod {
  /** Every mappable token's aggregated map, as the `previews` trait holds it. */
  previews: Previews;
  /** int32 [n] positions and float32 [n, layers, heads, h, w] their maps: the tokens the layers x heads grid can
   * show. */
  grids: { positions: ArraySpec; maps: ArraySpec };
  /** The model's index of each layer and head of the grids. */
  layer_labels: number[];
  head_labels: number[];
  /** Why a token has no grid in the page (the size budget, a map that could not be computed). */
  note: string;
}

/** The `static` part of an exported page's state. */
export interface StaticData {
  heading: { prompt: string; answer: string };
  methods: Record<string, StaticMethod>;
  /** Each answer token's `focus` trait (its image share per layer, its attribution to the text), by position;
   * absent from pages written before it was kept. */
  focus?: Record<string, Focus | Record<string, never>>;
}

/** What the view sends its kernel (`model.send`). */
type ViewMessage =
  { type: "select"; id: number; token: number } | RegionMessage;

/** The messages the view listens for, delivered as the widget manager delivers a kernel's. */
export type Emit = (
  content: Record<string, unknown>,
  buffers: DataView[],
) => void;

/** `lib.difference` of two [h, w] maps: each divided by the sum of its absolute values, then subtracted. */
export function difference(a: Float32Array, b: Float32Array): Float32Array {
  const mass = (values: Float32Array) =>
    Math.max(
      values.reduce((sum, v) => sum + Math.abs(v), 0),
      1e-30,
    );
  const [ma, mb] = [mass(a), mass(b)];
  return a.map((v, i) => v / ma - b[i] / mb);
}

/**
 * The cells of an h x w grid that a click (`point`) or a drag (`box`) names, as fractions of the picture: the cell
 * under the point, or every cell the box overlaps (right and bottom exclusive, as `core.regions.box_cells`); null
 * when the message clears the region or the box covers no cell.
 */
export function regionCells(
  message: RegionMessage,
  h: number,
  w: number,
): Uint8Array | null {
  const cells = new Uint8Array(h * w);
  if ("point" in message) {
    const [x, y] = message.point;
    const row = Math.min(Math.max(Math.floor(y * h), 0), h - 1);
    const col = Math.min(Math.max(Math.floor(x * w), 0), w - 1);
    cells[row * w + col] = 1;
    return cells;
  }
  if (!("box" in message)) return null;
  const [left, top, right, bottom] = message.box;
  let any = false;
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++)
      if (
        i / h < bottom &&
        (i + 1) / h > top &&
        j / w < right &&
        (j + 1) / w > left
      ) {
        cells[i * w + j] = 1;
        any = true;
      }
  return any ? cells : null;
}

/** [left, top, right, bottom] as fractions of the picture: the bounding box of `cells`. */
export function outline(
  cells: Uint8Array,
  h: number,
  w: number,
): [number, number, number, number] {
  let [r0, r1, c0, c1] = [h, -1, w, -1];
  cells.forEach((on, i) => {
    if (!on) return;
    const [r, c] = [Math.floor(i / w), i % w];
    [r0, r1, c0, c1] = [
      Math.min(r0, r),
      Math.max(r1, r),
      Math.min(c0, c),
      Math.max(c1, c),
    ];
  });
  return [c0 / w, r0 / h, (c1 + 1) / w, (r1 + 1) / h];
}

function spec(array: Float32Array, shape: number[]): ArraySpec {
  return {
    data: new DataView(array.buffer, array.byteOffset, array.byteLength),
    dtype: "float32",
    shape,
  };
}

/**
 * Answer `model`'s view from `data`: returns the function that takes what the view sends; `emit` delivers the
 * answers. Changing the method swaps in its previews and answers with the selected token's grid, as the kernel does.
 */
export function offlineKernel(
  model: Model,
  data: StaticData,
  emit: Emit,
): (message: ViewMessage) => void {
  const mappable = Array.from(decode(model.get("tokens").mappable).data);
  const rowOf = new Map(mappable.map((position, row) => [position, row]));
  const length = model.get("tokens").text.length;
  let picked: RegionMessage | null = null;

  const method = () => data.methods[model.get("mode")];

  function preview(
    position: number,
  ): { values: Float32Array; h: number; w: number } | null {
    const previews = method()?.previews;
    const row = rowOf.get(position);
    if (!previews || !("maps" in previews) || row === undefined) return null;
    const maps = decodeFloat32(previews.maps);
    if (!decode(previews.ready).data[row]) return null;
    const [, h, w] = maps.shape;
    return { values: maps.data.subarray(row * h * w, (row + 1) * h * w), h, w };
  }

  function grid(position: number): NDArray<Float32Array> | null {
    const held = method()?.grids;
    if (!held) return null;
    const index = Array.from(decode(held.positions).data).indexOf(position);
    if (index < 0) return null;
    const maps = decodeFloat32(held.maps);
    const [, layers, heads, h, w] = maps.shape;
    const size = layers * heads * h * w;
    return {
      data: maps.data.subarray(index * size, (index + 1) * size),
      shape: [layers, heads, h, w],
    };
  }

  function set(changes: Partial<Traits>): void {
    for (const [key, value] of Object.entries(changes))
      model.set(key as keyof Traits, value as Traits[keyof Traits]);
    model.save_changes();
  }

  function answer(id: number, token: number): void {
    const header = {
      type: "detail",
      id,
      token,
      mode: model.get("mode"),
      image_index: model.get("image_index"),
    };
    const map = grid(token);
    if (!map) {
      const why =
        method()?.note || "this page holds no layers × heads map for it";
      emit(
        {
          ...header,
          note: `No layers × heads map of this token in this page: ${why}.`,
        },
        [],
      );
      return;
    }
    emit(
      {
        ...header,
        detail: { buffer: 0, dtype: "float32", shape: map.shape },
        layer_labels: method().layer_labels,
        head_labels: method().head_labels,
      },
      [spec(map.data, map.shape).data],
    );
  }

  function score(): void {
    const first = mappable.find((position) => preview(position) !== null);
    const shape = first === undefined ? null : preview(first);
    const cells =
      picked && shape ? regionCells(picked, shape.h, shape.w) : null;
    if (!cells || !shape) {
      set({ region_scores: {} });
      return;
    }
    const scores = new Float32Array(length).fill(Number.NaN);
    for (const position of mappable) {
      const map = preview(position);
      if (!map) continue;
      let sum = 0;
      cells.forEach((on, i) => {
        if (on) sum += map.values[i];
      });
      scores[position] = sum;
    }
    set({
      region_scores: {
        scores: spec(scores, [length]),
        box: outline(cells, shape.h, shape.w),
        image_index: model.get("image_index"),
        mode: model.get("mode"),
      },
    });
  }

  function compare(): void {
    const against = model.get("compare_token");
    if (against === null || against === undefined) {
      if (Object.keys(model.get("comparison")).length > 0)
        set({ comparison: {} });
      return;
    }
    const token = model.get("token");
    const heads = model.get("heads");
    const shown = (position: number) => {
      if (heads.length === 0) return preview(position);
      const map = grid(position);
      return map
        ? { values: meanOfHeads(map, heads), h: map.shape[2], w: map.shape[3] }
        : null;
    };
    const [a, b] = [shown(token), shown(against)];
    if (!a || !b) {
      const text = model.get("tokens").text;
      const missing = (a ? [] : [token]).concat(b ? [] : [against]);
      const which = missing
        .map((p) => `${JSON.stringify(text[p])} (position ${p})`)
        .join(" and ");
      const what = heads.length
        ? "layers × heads map"
        : `${model.get("mode")} map`;
      set({
        comparison: {},
        error: `Cannot compare: this page holds no ${what} of ${which} (it holds those computed before it was saved, and the answer's).`,
      });
      return;
    }
    set({
      error: "",
      comparison: {
        token,
        compare_token: against,
        mode: model.get("mode"),
        image_index: model.get("image_index"),
        values: spec(difference(a.values, b.values), [a.h, a.w]),
      },
    });
  }

  model.on("change:mode", () => {
    set({ previews: method()?.previews ?? {}, heads: [], error: "" });
    score();
    compare();
    answer(0, model.get("token"));
  });
  model.on("change:heads", compare);
  model.on("change:compare_token", compare);

  return (message) => {
    if (message.type === "select") {
      if (!rowOf.has(message.token)) return;
      const focus = data.focus?.[String(message.token)];
      set(focus ? { token: message.token, focus } : { token: message.token });
      compare();
      answer(message.id, message.token);
    } else if (message.type === "region") {
      picked = "point" in message || "box" in message ? message : null;
      score();
    }
  };
}
