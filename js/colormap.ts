// Colormaps as 256-entry lookup tables, and values -> RGBA pixels.
import type { ColormapName } from "./model";

/** The colour menu's maps, and the diverging one that signed maps (differences) are drawn with. */
export type TableName = ColormapName | "diverging";

// matplotlib's inferno and viridis sampled at 17 evenly spaced points, and ColorBrewer's RdBu reversed (blue for
// negative, white for 0, red for positive); the tables interpolate linearly between them.
const ANCHORS: Record<Exclude<TableName, "gray">, string> = {
  inferno:
    "000004 0b0724 210c4a 3d0965 57106e 71196e 8a226a a32c61 bc3754 d24644 e45a31 f1731d f98e09 fcac11 f9cb35 f2ea69 fcffa4",
  viridis:
    "440154 48186a 472d7b 424086 3b528b 33638d 2c728e 26828e 21918c 1fa088 28ae80 3fbc73 5ec962 84d44b addc30 d8e219 fde725",
  diverging:
    "053061 2166ac 4393c3 92c5de d1e5f0 f7f7f7 fddbc7 f4a582 d6604d b2182b 67001f",
};

const tables = new Map<TableName, Uint8Array>();

/** RGB lookup table: 256 entries x 3 bytes, from the lowest value (0) to the highest (255). */
export function lookupTable(name: TableName): Uint8Array {
  const cached = tables.get(name);
  if (cached) return cached;
  const table = new Uint8Array(256 * 3);
  if (name === "gray") {
    for (let i = 0; i < 256; i++) table.fill(i, i * 3, i * 3 + 3);
  } else {
    const anchors = ANCHORS[name]
      .split(" ")
      .map((hex) => [0, 2, 4].map((k) => parseInt(hex.slice(k, k + 2), 16)));
    const last = anchors.length - 1;
    for (let i = 0; i < 256; i++) {
      const x = (i / 255) * last;
      const k = Math.min(Math.floor(x), last - 1);
      const f = x - k;
      for (let c = 0; c < 3; c++) {
        table[i * 3 + c] = Math.round(
          anchors[k][c] * (1 - f) + anchors[k + 1][c] * f,
        );
      }
    }
  }
  tables.set(name, table);
  return table;
}

/** [min, max] of the finite values; [0, 0] when there are none. */
export function valueRange(values: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi ? [lo, hi] : [0, 0];
}

/** The table index (0..255) of `value` on the scale [lo, hi]; a flat scale maps to 0, NaN to 0. */
export function level(value: number, lo: number, hi: number): number {
  if (!(hi > lo) || !Number.isFinite(value)) return 0;
  return Math.max(
    0,
    Math.min(255, Math.round(((value - lo) / (hi - lo)) * 255)),
  );
}

/** Opaque RGBA pixels for `values` on the scale `range`, as ImageData wants them. */
export function colorize(
  values: ArrayLike<number>,
  name: TableName,
  range: [number, number],
): Uint8ClampedArray<ArrayBuffer> {
  const table = lookupTable(name);
  const pixels = new Uint8ClampedArray(values.length * 4);
  for (let i = 0; i < values.length; i++) {
    const k = level(values[i], range[0], range[1]) * 3;
    pixels[i * 4] = table[k];
    pixels[i * 4 + 1] = table[k + 1];
    pixels[i * 4 + 2] = table[k + 2];
    pixels[i * 4 + 3] = 255;
  }
  return pixels;
}

/** How a map is drawn: on the chosen sequential table from its min to max, on the diverging table centred on 0
 * (a map with negative values), or not at all (a constant map, which has nothing to show). */
export type ScaleKind = "sequential" | "diverging" | "flat";

export interface Scale {
  kind: ScaleKind;
  table: TableName;
  /** The values the table's ends stand for; a flat map's [value, value]. */
  range: [number, number];
}

/** Negative values smaller than this share of the largest magnitude are float noise, not a sign. */
const SIGN_TOLERANCE = 1e-6;

/** Whether `range` holds values of both signs, or only negative ones: a map to draw centred on 0. */
export function isSigned(range: [number, number]): boolean {
  const [lo, hi] = range;
  return lo < 0 && -lo > SIGN_TOLERANCE * Math.max(Math.abs(hi), -lo);
}

/**
 * The scale for a map of `range` ([min, max] of its finite values): flat when min = max, diverging on
 * [-m, m] (m the largest magnitude, so 0 is the table's neutral middle) when it has negative values, else the
 * sequential `colormap` on [min, max].
 */
export function chooseScale(
  range: [number, number],
  colormap: ColormapName,
): Scale {
  const [lo, hi] = range;
  if (!(hi > lo)) return { kind: "flat", table: colormap, range: [lo, hi] };
  if (isSigned(range)) {
    const m = Math.max(-lo, Math.abs(hi));
    return { kind: "diverging", table: "diverging", range: [-m, m] };
  }
  return { kind: "sequential", table: colormap, range: [lo, hi] };
}

/** CSS colour of table entry `level`. */
export function cssColor(name: TableName, index: number): string {
  const table = lookupTable(name);
  return `rgb(${table[index * 3]}, ${table[index * 3 + 1]}, ${table[index * 3 + 2]})`;
}

/** Paint `canvas` (256 x 1 pixels) with every entry of table `name`, lowest on the left: a colour bar (once: a
 * bar already showing `name` is left as it is). */
export function paintBar(canvas: HTMLCanvasElement, name: TableName): void {
  if (canvas.dataset.table === name) return;
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  canvas.dataset.table = name;
  for (let i = 0; i < 256; i++) {
    ctx.fillStyle = cssColor(name, i);
    ctx.fillRect(i, 0, 1, 1);
  }
}

/** A colour bar's canvas, 256 x 1 pixels (CSS stretches it). */
export function barCanvas(): HTMLCanvasElement {
  const canvas = document.createElement("canvas");
  canvas.width = 256;
  canvas.height = 1;
  return canvas;
}
