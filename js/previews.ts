// The preview buffer: the aggregated map of every mappable token, as the `previews` trait sends it, plus the rows
// the kernel computed later and sent one by one. A click or a hover shows a token's map from here at once; the
// kernel's answer brings the layers x heads detail afterwards.
import type { Source } from "./caption";
import { decode, decodeFloat32 } from "./codec";
import type { Grid } from "./heatmap";
import type { KernelMessage, Traits } from "./model";

export type PreviewMessage = Extract<KernelMessage, { type: "preview" }>;

export class PreviewBuffer {
  /** The preview row of each mappable position. */
  private readonly rowOf = new Map<number, number>();
  private maps: Float32Array | null = null;
  private ready: Uint8Array = new Uint8Array(0);
  private h = 0;
  private w = 0;

  /** `mappable`: the positions that have a map, in the order of the preview rows. */
  constructor(readonly mappable: ArrayLike<number>) {
    Array.from(mappable).forEach((position, row) =>
      this.rowOf.set(position, row),
    );
  }

  /** Whether `position` has a map at all (computed or not). */
  has(position: number): boolean {
    return this.rowOf.has(position);
  }

  /** The preview row of `position`, undefined where it has no map. */
  row(position: number): number | undefined {
    return this.rowOf.get(position);
  }

  /** Take the whole buffer from the `previews` trait (empty: no previews yet). */
  read(value: Traits["previews"]): void {
    if (!("maps" in value)) {
      this.maps = null;
      return;
    }
    const maps = decodeFloat32(value.maps);
    this.maps = maps.data;
    this.ready = decode(value.ready).data as Uint8Array;
    this.h = maps.shape[1];
    this.w = maps.shape[2];
  }

  /** `position`'s map, or null where it is not computed (or has none). */
  grid(position: number): Grid | null {
    const row = this.rowOf.get(position);
    if (!this.maps || row === undefined || !this.ready[row]) return null;
    const size = this.h * this.w;
    return {
      values: this.maps.subarray(row * size, (row + 1) * size),
      h: this.h,
      w: this.w,
    };
  }

  /** Whether `position`'s map still has to be computed. */
  pending(position: number): boolean {
    return this.grid(position) === null;
  }

  /**
   * Write previews the kernel computed one by one into the buffer (shared by every view of the model). Returns
   * false, writing nothing, when their size is not the buffer's: a full update of the previews is on its way.
   */
  patch(message: PreviewMessage, buffers: DataView[]): boolean {
    const rows = decode({ ...message.rows, data: buffers[message.rows.buffer] })
      .data as Int32Array;
    const maps = decodeFloat32({
      ...message.maps,
      data: buffers[message.maps.buffer],
    });
    const target = this.maps;
    if (!target || maps.shape[1] !== this.h || maps.shape[2] !== this.w)
      return false;
    const size = this.h * this.w;
    rows.forEach((row, i) => {
      target.set(maps.data.subarray(i * size, (i + 1) * size), row * size);
      this.ready[row] = 1;
    });
    return true;
  }
}

/** What the heatmap shows: which position's map, and from where. */
export interface Shown {
  position: number;
  grid: Grid | null;
  source: Source;
}

/**
 * Pick the map to show. A hovered token (other than the selected one) shows its preview; otherwise the comparison,
 * then the selected heads, then the selected token's preview. `compare` and `heads` are asked only when needed and
 * return null when they have nothing for what is on screen.
 */
export function chooseShown(
  token: number,
  hover: number | null,
  maps: {
    compare(): Grid | null;
    heads(): Grid | null;
    preview(position: number): Grid | null;
  },
): Shown {
  const hovering = hover !== null && hover !== token;
  const position = hovering ? hover : token;
  if (!hovering) {
    const compared = maps.compare();
    if (compared) return { position, grid: compared, source: "compare" };
    const heads = maps.heads();
    if (heads) return { position, grid: heads, source: "heads" };
  }
  const grid = maps.preview(position);
  return {
    position,
    grid,
    source: grid ? (hovering ? "hover" : "selection") : "pending",
  };
}
