// The gallery's traits and messages as the view sees them (vl_saliency_widget/gallery/gallery.py and protocol.py).
import type { AnyModel } from "@anywidget/types";
import type { ArraySpec, ColormapName } from "./model";

/** A sortable column of the run's summary. */
export interface ColumnInfo {
  name: string;
  /** "number": sorted by value, filtered by a range; "text": sorted by lower-cased text, filtered by "contains". */
  kind: "number" | "text";
  /** One value per answer token, read through the token reduction. */
  per_token: boolean;
}

/** A menu entry: a method (or a layers x heads reduction) and whether the run precomputed its maps. */
export interface MenuEntry {
  name: string;
  precomputed: boolean;
  /** Why it cannot be chosen, and what to do (empty when it can). */
  note: string;
}

/** How a card's map and per-token columns read the answer: its first token, or the mean or max over its tokens. */
export type TokenReduction = "first" | "mean" | "max";
export const TOKEN_REDUCTIONS: TokenReduction[] = ["first", "mean", "max"];

export type Filter =
  | { column: string; text: string }
  | { column: string; min: number | null; max: number | null };

/** The rows shown, in order: int32 row indices of the run, and the sort column's values when it holds numbers. */
export interface OrderState {
  indices: ArraySpec;
  values: ArraySpec | null;
}

export interface GalleryTraits {
  total: number;
  columns: ColumnInfo[];
  methods: MenuEntry[];
  method: string;
  token: TokenReduction;
  reductions: MenuEntry[];
  sort_by: string;
  descending: boolean;
  filters: Filter[];
  order: OrderState | Record<string, never>;
  colormap: ColormapName;
  opacity: number;
  opened: number;
  /** "anywidget:<model id>" of the open sample's SaliencyWidget, or null. */
  detail: string | null;
  error: string;
}

export type GalleryModel = AnyModel<GalleryTraits>;

/** The words on a card. */
export interface CardText {
  id: string | number;
  status: string;
  question: string;
  answer: string;
  error: string;
}

/** One card of an "items" answer: [offset, rows, cols] of its map in `maps`, [offset, length, width, height] of
 * its PNG in `pictures`. */
export interface ItemAnswer extends CardText {
  index: number;
  map: [number, number, number] | null;
  picture: [number, number, number, number] | null;
}

type BufferRef<D extends ArraySpec["dtype"]> = {
  buffer: number;
  dtype: D;
  shape: number[];
};

/** The kernel's answer to an "items" request. */
export interface ItemsMessage {
  type: "items";
  id: number;
  method: string;
  token: TokenReduction;
  items: ItemAnswer[];
  maps: BufferRef<"float32">;
  pictures: BufferRef<"uint8">;
}

/** What the view asks the kernel for: the cards of run rows `indices`, with the pictures of rows `pictures`. */
export interface ItemsRequest {
  type: "items";
  id: number;
  indices: number[];
  pictures: number[];
}

/** Set traits and send them to the kernel in one go. */
export function update(
  model: GalleryModel,
  changes: Partial<GalleryTraits>,
): void {
  for (const [key, value] of Object.entries(changes)) {
    model.set(
      key as keyof GalleryTraits,
      value as GalleryTraits[keyof GalleryTraits],
    );
  }
  model.save_changes();
}
