// The widget's traits as the view sees them: one typed wrapper over the anywidget model.
import type { AnyModel } from "@anywidget/types";

/** An array on the wire: raw bytes, element type and shape (see vl_saliency_widget/widget/serialize.py). */
export interface ArraySpec {
  data: DataView;
  dtype: "float32" | "int32" | "uint8";
  shape: number[];
}

export interface Picture {
  png: DataView;
  width: number;
  height: number;
}

export interface TokenInfo {
  /** Per position: the token's text as it reads, the tokenizer's stand-ins for spaces, newlines and tabs turned
   * back by the kernel (`viz.tokens.display_text`, the one table of them). */
  text: string[];
  special: boolean[];
  /** Per position: index of the image whose token it holds, or -1 for text. */
  image_of: ArraySpec;
  gen_start: number;
  /** Positions that have a map, in the order of the preview rows. */
  mappable: ArraySpec;
  /** Per position: share of attention on the image(s), scaled to [0, 1]. */
  grounding: ArraySpec;
}

export interface Previews {
  /** float32 [mappable, h, w]: the aggregated map of every mappable token. */
  maps: ArraySpec;
  /** uint8 [mappable]: 1 where the row of maps is computed. */
  ready: ArraySpec;
}

/** Image to text: `trace.tokens_for(w.region)` for the current image and method. */
export interface RegionScores {
  /** float32 [T]: per position, what its map puts on the region; NaN where a token has no map. */
  scores: ArraySpec;
  /** The cells the region covers, [left, top, right, bottom] as fractions of the picture. */
  box: [number, number, number, number];
  image_index: number;
  mode: string;
}

/** `lib.difference(map of token, map of compare_token)`, both shown the same way. */
export interface Comparison {
  token: number;
  compare_token: number;
  mode: string;
  image_index: number;
  /** float32 [h, w], signed: positive where `token` puts more. */
  values: ArraySpec;
}

/** A `HeadRanking`: its top heads, most frequent first, and how often each head was selected. */
export interface HeadRankingInfo {
  top: [number, number][];
  /** float32 [layers, heads]: share of the ranked maps that selected each head. */
  frequencies: ArraySpec;
  samples: number;
  /** The model's index of each layer and head of `frequencies`. */
  layer_labels: number[];
  head_labels: number[];
}

export type Reduction = "mean" | "sum" | "max" | "min";
export type ColormapName = "inferno" | "viridis" | "gray";
/** The layers x heads grid's colours: each head on its own scale, or one scale shared by all. */
export type GridScale = "head" | "shared";

export interface Traits {
  tokens: TokenInfo;
  images: Picture[];
  methods: string[];
  /** The aggregation menus' choices (the kernel's list). */
  reductions: Reduction[];
  /** The colormap menu's choices (the kernel's list; `colormap.ts` draws each). */
  colormaps: ColormapName[];
  previews: Previews | Record<string, never>;
  token: number;
  mode: string;
  image_index: number;
  layer_reduce: Reduction;
  head_reduce: Reduction;
  heads: [number, number][];
  colormap: ColormapName;
  grid_scale: GridScale;
  opacity: number;
  smooth: boolean;
  error: string;
  region_scores: RegionScores | Record<string, never>;
  compare_token: number | null;
  comparison: Comparison | Record<string, never>;
  head_ranking: HeadRankingInfo | Record<string, never>;
  reliance: RelianceInfo | Record<string, never>;
  focus: Focus | Record<string, never>;
}

export type Model = AnyModel<Traits>;

/** Messages the kernel sends. */
export type KernelMessage =
  | {
      type: "detail";
      id: number;
      token: number;
      mode?: string;
      image_index?: number;
      error?: string;
      detail?: { buffer: number; dtype: ArraySpec["dtype"]; shape: number[] };
      /** The model's index of each layer and head of the map (captured subsets keep their indices). */
      layer_labels?: number[];
      head_labels?: number[];
      /** Why no [layers, heads] map comes (an exported page that does not hold this token's). */
      note?: string;
    }
  | { type: "progress"; done: number; total: number }
  | {
      /** Previews computed after the last `previews` update: int32 [n] rows and float32 [n, h, w] maps. */
      type: "preview";
      rows: { buffer: number; dtype: "int32"; shape: number[] };
      maps: { buffer: number; dtype: "float32"; shape: number[] };
    };

/** Set traits and send them to the kernel in one go. */
export function update(model: Model, changes: Partial<Traits>): void {
  for (const [key, value] of Object.entries(changes)) {
    model.set(key as keyof Traits, value as Traits[keyof Traits]);
  }
  model.save_changes();
}

/** Call `callback` when any of `names` changes; returns the function that stops listening. */
export function onChange(
  model: Model,
  names: (keyof Traits)[],
  callback: () => void,
): () => void {
  for (const name of names) model.on(`change:${name}`, callback);
  return () => {
    for (const name of names) model.off(`change:${name}`, callback);
  };
}

/** `trace.reliance()`: per position (NaN where the token is not scored: the answer's only). */
export interface RelianceInfo {
  baseline: string;
  threshold: number;
  /** float32 [T]: log p(token | image) - log p(token | image hidden), in nats. */
  delta: ArraySpec;
  with_image: ArraySpec;
  without_image: ArraySpec;
  /** uint8 [T]: 1 where delta > threshold. */
  from_image: ArraySpec;
}

/** The selected token's image share per layer and attribution to the text (each absent where the trace has none). */
export interface Focus {
  token: number;
  /** float32 [layers]: share of its attention on the image, mean over heads. */
  image_share?: ArraySpec;
  layer_labels?: number[];
  /** float32 [T]: its attention on each text token (NaN at image tokens and after it). */
  attribution?: ArraySpec;
}
