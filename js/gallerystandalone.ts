// A page of the gallery exported as HTML (SaliencyGallery.to_html): the same view over a model that lives in the
// page, whose kernel is played here from the page's samples: it orders them (galleryorder.ts, the kernel's rules)
// and answers the view's requests for cards from the pictures and maps the page holds.
import { reviveBuffers } from "./codec";
import type {
  CardText,
  GalleryModel,
  GalleryTraits,
  ItemsMessage,
  ItemsRequest,
  TokenReduction,
} from "./gallerymodel";
import { orderRows, type Table } from "./galleryorder";
import { mountGallery } from "./galleryview";
import { localModel } from "./localmodel";
import type { ArraySpec } from "./model";

/** What an exported page holds besides the traits (vl_saliency_widget/gallery/export.py). */
export interface PageData {
  page: number;
  pages: number;
  page_size: number;
  /** How many samples the notebook's gallery showed (the pages are cut from them). */
  shown: number;
  /** The run's row index of each sample on the page, in the notebook's order. */
  rows: number[];
  items: (CardText & { index: number })[];
  pictures: ({ png: DataView; width: number; height: number } | null)[];
  /** Per method and token reduction, each sample's map. */
  maps: Record<string, Record<TokenReduction, (ArraySpec | null)[]>>;
  table: Table;
}

function spec(array: Int32Array | Float32Array): ArraySpec {
  return {
    data: new DataView(array.buffer),
    dtype: array instanceof Int32Array ? "int32" : "float32",
    shape: [array.length],
  };
}

/** The `order` trait for the page's samples under the model's sort, filters and token reduction. */
export function pageOrder(
  model: GalleryModel,
  page: PageData,
): GalleryTraits["order"] {
  const { rows, values } = orderRows(
    page.table,
    model.get("columns"),
    {
      sort_by: model.get("sort_by"),
      descending: model.get("descending"),
      filters: model.get("filters"),
      token: model.get("token"),
    },
    page.rows.length,
  );
  return {
    indices: spec(Int32Array.from(rows, (row) => page.rows[row])),
    values: values ? spec(Float32Array.from(values, (v) => v ?? NaN)) : null,
  };
}

/** The answer to a request for cards, from what the page holds, as the kernel would send it. */
export function pageItems(
  page: PageData,
  request: ItemsRequest,
  method: string,
  token: TokenReduction,
): [ItemsMessage, DataView[]] {
  const at = new Map(page.rows.map((row, position) => [row, position]));
  const wantPicture = new Set(request.pictures);
  const maps: Float32Array[] = [];
  const pictures: Uint8Array[] = [];
  let mapOffset = 0;
  let pictureOffset = 0;
  const items = request.indices.flatMap((index) => {
    const position = at.get(index);
    if (position === undefined) return [];
    const held = page.maps[method]?.[token]?.[position] ?? null;
    let map: [number, number, number] | null = null;
    if (held) {
      const data = new Float32Array(
        held.data.buffer.slice(
          held.data.byteOffset,
          held.data.byteOffset + held.data.byteLength,
        ),
      );
      map = [mapOffset, held.shape[0], held.shape[1]];
      maps.push(data);
      mapOffset += data.length;
    }
    const picture = wantPicture.has(index) ? page.pictures[position] : null;
    let place: [number, number, number, number] | null = null;
    if (picture) {
      const bytes = new Uint8Array(
        picture.png.buffer,
        picture.png.byteOffset,
        picture.png.byteLength,
      );
      place = [pictureOffset, bytes.length, picture.width, picture.height];
      pictures.push(bytes);
      pictureOffset += bytes.length;
    }
    return [{ ...page.items[position], index, map, picture: place }];
  });
  const join = <T extends Float32Array | Uint8Array>(
    parts: T[],
    make: (n: number) => T,
  ): T => {
    const out = make(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  };
  const mapData = join(maps, (n) => new Float32Array(n));
  const pictureData = join(pictures, (n) => new Uint8Array(n));
  const message: ItemsMessage = {
    type: "items",
    id: request.id,
    method,
    token,
    items,
    maps: { buffer: 0, dtype: "float32", shape: [mapData.length] },
    pictures: { buffer: 1, dtype: "uint8", shape: [pictureData.length] },
  };
  return [
    message,
    [new DataView(mapData.buffer), new DataView(pictureData.buffer)],
  ];
}

/** The heading of an exported page: which page of how many samples, and that it sorts within itself. */
export function pageHeading(page: PageData, total: number): string {
  const first = page.page * page.page_size + 1;
  const last = page.page * page.page_size + page.rows.length;
  return (
    `Page ${page.page + 1} of ${page.pages}: samples ${first.toLocaleString("en")}–${last.toLocaleString("en")} ` +
    `of the ${page.shown.toLocaleString("en")} the notebook showed (${total.toLocaleString("en")} in the run). ` +
    "Sorting and filtering here reorder this page's samples."
  );
}

/** Mount an exported page into `el` from its JSON state (buffers as {"$base64": ...}). */
export function mount(el: HTMLElement, state: unknown): () => void {
  const { static: page, ...traits } = reviveBuffers(state) as GalleryTraits & {
    static: PageData;
  };
  const local = localModel<GalleryTraits, GalleryModel>({
    ...traits,
    total: page.rows.length, // the count reads against the page; the heading gives the run's size
    order: {} as Record<string, never>,
    opened: -1,
    detail: null,
    error: "",
  });
  const { model } = local;
  const reorder = (): void => {
    model.set("order", pageOrder(model, page));
    model.save_changes();
  };
  for (const name of ["sort_by", "descending", "filters", "token"] as const)
    model.on(`change:${name}`, reorder);
  local.answer((message) => {
    const request = message as ItemsRequest;
    if (request?.type !== "items") return;
    const [content, buffers] = pageItems(
      page,
      request,
      model.get("method"),
      model.get("token"),
    );
    queueMicrotask(() => local.emit(content, buffers));
  });
  model.set("order", pageOrder(model, page));
  return mountGallery(model, el, {
    live: false,
    heading: pageHeading(page, traits.total),
  });
}
