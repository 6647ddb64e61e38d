// What the view has received of the cards, per gallery model (shared by its views, kept across re-renders): each
// row's text, its picture's PNG bytes (and the decoded bitmaps of the cards drawn lately), and its map per method
// and token reduction. Bounded: the least recently used go first.
import { decode } from "./codec";
import { Lru } from "./gallerygrid";
import type { CardText, ItemsMessage, TokenReduction } from "./gallerymodel";

export interface MapEntry {
  values: Float32Array;
  rows: number;
  cols: number;
}

export interface PictureEntry {
  png: Uint8Array;
  width: number;
  height: number;
  /** The PNG as a slice of its answer's one Blob: a Blob per picture costs a round trip to the browser process
   * each, a slice of one does not copy. */
  blob: Blob | null;
}

/** The key of a row's map for a method and token reduction. */
export function mapKey(
  index: number,
  method: string,
  token: TokenReduction,
): string {
  return `${index}\u0000${method}\u0000${token}`;
}

export class CardStore {
  readonly texts = new Map<number, CardText>();
  /** null: the row has no map for that key (a failed sample, or a method its maps file lacks). */
  readonly maps = new Lru<string, MapEntry | null>(16384);
  readonly pictures = new Lru<number, PictureEntry>(4096);
  /** Rows whose picture was asked for and did not come (its trace file holds none the kernel could read). */
  readonly noPicture = new Set<number>();
  readonly bitmaps = new Lru<number, ImageBitmap>(2048, (b) => b.close());
  private readonly decoding = new Set<number>();
  private lastId = 0;

  /** The next request id: 1, 2, 3, … shared by every view of the model. */
  nextId(): number {
    this.lastId += 1;
    return this.lastId;
  }

  /** Keep what an "items" answer holds (`asked`: the rows whose pictures its request asked for); returns the rows
   * it was about. */
  take(message: ItemsMessage, buffers: DataView[], asked: number[]): number[] {
    const maps = decode({ ...message.maps, data: buffers[message.maps.buffer] })
      .data as Float32Array;
    const pictures = decode({
      ...message.pictures,
      data: buffers[message.pictures.buffer],
    }).data as Uint8Array;
    const whole =
      pictures.length > 0 && typeof Blob !== "undefined"
        ? new Blob([pictures as unknown as BlobPart], { type: "image/png" })
        : null;
    for (const item of message.items) {
      const { index, map, picture, ...text } = item;
      this.texts.set(index, text);
      const key = mapKey(index, message.method, message.token);
      if (map === null) this.maps.set(key, null);
      else {
        const [offset, rows, cols] = map;
        this.maps.set(key, {
          values: maps.slice(offset, offset + rows * cols),
          rows,
          cols,
        });
      }
      if (picture !== null) {
        const [offset, length, width, height] = picture;
        this.pictures.set(index, {
          png: pictures.subarray(offset, offset + length),
          width,
          height,
          blob: whole?.slice(offset, offset + length, "image/png") ?? null,
        });
      }
    }
    for (const index of asked)
      if (!this.pictures.has(index)) this.noPicture.add(index);
    return message.items.map((item) => item.index);
  }

  /** Of `indices`, the rows to ask the kernel for (text or map missing), and those of them whose picture is
   * missing (a failed sample has none to send). */
  missing(
    indices: number[],
    method: string,
    token: TokenReduction,
  ): { indices: number[]; pictures: number[] } {
    const rows: number[] = [];
    const pictures: number[] = [];
    for (const index of indices) {
      const text = this.texts.get(index);
      const needsPicture =
        !this.pictures.has(index) &&
        !this.noPicture.has(index) &&
        (text === undefined || text.status === "ok");
      if (
        text === undefined ||
        !this.maps.has(mapKey(index, method, token)) ||
        needsPicture
      ) {
        rows.push(index);
        if (needsPicture) pictures.push(index);
      }
    }
    return { indices: rows, pictures };
  }

  /** The decoded picture of a row, or null while it is decoded (then `decoded(index)` is called once). */
  bitmap(index: number, decoded: (index: number) => void): ImageBitmap | null {
    const bitmap = this.bitmaps.get(index);
    if (bitmap !== undefined) return bitmap;
    const picture = this.pictures.get(index);
    if (
      picture === undefined ||
      this.decoding.has(index) ||
      typeof createImageBitmap === "undefined"
    )
      return null;
    this.decoding.add(index);
    createImageBitmap(
      picture.blob ??
        new Blob([picture.png as unknown as BlobPart], { type: "image/png" }),
    ).then(
      (made) => {
        this.decoding.delete(index);
        this.bitmaps.set(index, made);
        decoded(index);
      },
      () => this.decoding.delete(index),
    );
    return null;
  }
}

const stores = new WeakMap<object, CardStore>();

/** The store of a model, made on first use. */
export function storeOf(model: object): CardStore {
  let store = stores.get(model);
  if (store === undefined) {
    store = new CardStore();
    stores.set(model, store);
  }
  return store;
}
