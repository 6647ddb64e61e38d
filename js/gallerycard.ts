// A card's thumbnail: the sample's picture fitted into the card, and its map over it, coloured as the widget colours
// maps (colormap.ts: each map on its own scale; a map with negative values on the diverging one, centred on 0).
import { chooseScale, colorize, valueRange } from "./colormap";
import type { MapEntry } from "./gallerystore";
import type { ColormapName } from "./model";

/** The card's picture box, in CSS pixels. */
export const THUMB = 132;

/** Where a `width` x `height` picture sits in a `box` x `box` square: as large as fits, centred. */
export function fit(
  width: number,
  height: number,
  box: number,
): { x: number; y: number; width: number; height: number } {
  const scale = Math.min(box / Math.max(1, width), box / Math.max(1, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  return {
    x: Math.floor((box - w) / 2),
    y: Math.floor((box - h) / 2),
    width: w,
    height: h,
  };
}

let scratch: HTMLCanvasElement | null = null;

/** A map's cells as a `cols` x `rows` canvas of colours, on one scratch canvas that every card shares: draw it
 * before the next call. Null for a flat map, which has nothing to show. */
function overlay(
  map: MapEntry,
  colormap: ColormapName,
): HTMLCanvasElement | null {
  const scale = chooseScale(valueRange(map.values), colormap);
  if (scale.kind === "flat") return null;
  scratch ??= document.createElement("canvas");
  if (scratch.width !== map.cols || scratch.height !== map.rows) {
    scratch.width = map.cols;
    scratch.height = map.rows;
  }
  const ctx = scratch.getContext("2d");
  if (!ctx) return null;
  ctx.putImageData(
    new ImageData(
      colorize(map.values, scale.table, scale.range),
      map.cols,
      map.rows,
    ),
    0,
    0,
  );
  return scratch;
}

export interface Thumbnail {
  picture: ImageBitmap | null;
  /** The picture's size in pixels (its place is kept while it is decoded). */
  size: [number, number] | null;
  map: MapEntry | null;
  colormap: ColormapName;
  opacity: number;
}

/** Draw `thumb` on `canvas` (THUMB x THUMB CSS pixels at the screen's density); the map is stretched over the
 * picture's box, smoothed. */
export function drawThumbnail(
  canvas: HTMLCanvasElement,
  thumb: Thumbnail,
): void {
  const ratio = Math.min(2, globalThis.devicePixelRatio || 1);
  const side = Math.round(THUMB * ratio);
  if (canvas.width !== side) canvas.width = canvas.height = side;
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, THUMB, THUMB);
  if (thumb.size === null) return;
  const box = fit(thumb.size[0], thumb.size[1], THUMB);
  ctx.imageSmoothingEnabled = true;
  if (thumb.picture)
    ctx.drawImage(thumb.picture, box.x, box.y, box.width, box.height);
  const colours = thumb.map ? overlay(thumb.map, thumb.colormap) : null;
  if (colours) {
    ctx.globalAlpha = thumb.opacity;
    ctx.drawImage(colours, box.x, box.y, box.width, box.height);
    ctx.globalAlpha = 1;
  }
}
