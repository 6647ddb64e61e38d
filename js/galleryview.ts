// The gallery's view: controls bound to the traits, a virtual grid of cards that asks the kernel for the cards in
// view, and the open sample's full widget in place of the grid. The kernel is the notebook's, or in an exported
// page the one gallerystandalone.ts plays from the page's samples. Parts:
//   gallerygrid.ts   which cards are in view, and where they sit
//   gallerystore.ts  what has been received (text, pictures, maps), and what to ask for
//   gallerycard.ts   a card's thumbnail: picture and map
//   galleryorder.ts  the filters' helpers (and the offline page's sorting)
import { decode } from "./codec";
import { element } from "./dom";
import { drawThumbnail } from "./gallerycard";
import {
  CARD,
  cardPlace,
  gridColumns,
  gridHeight,
  visibleRange,
} from "./gallerygrid";
import {
  TOKEN_REDUCTIONS,
  update,
  type ColumnInfo,
  type Filter,
  type GalleryModel,
  type GalleryTraits,
  type ItemsMessage,
  type ItemsRequest,
  type MenuEntry,
  type TokenReduction,
} from "./gallerymodel";
import {
  describeFilter,
  filterOn,
  formatValue,
  parseBound,
  withFilter,
} from "./galleryorder";
import { mapKey, storeOf, type CardStore } from "./gallerystore";

/** What a child widget reference resolves to (anywidget's `host.getWidget`). */
export interface ChildWidgets {
  getWidget(ref: string): Promise<{
    render(options: { el: HTMLElement; signal?: AbortSignal }): Promise<void>;
  }>;
}

export interface GalleryOptions {
  /** True with a notebook kernel behind the model (a card opens the full widget); false in an exported page. */
  live: boolean;
  /** anywidget's host, which renders the open sample's widget inside the gallery. */
  host?: ChildWidgets;
  /** A line above the controls (an exported page says which page it holds). */
  heading?: string;
}

/** The most cards one request asks for (the kernel takes up to 1,024). */
const REQUEST_CARDS = 256;
/** The grid's size when the page cannot say (no layout, as in tests). */
const FALLBACK_SIZE = { width: 980, height: 640 };
/** The grid's padding (gallery.css, .vlsg-viewport). */
const PADDING = 8;

/** Traits the controls show. */
const CONTROL_TRAITS: (keyof GalleryTraits)[] = [
  "methods",
  "method",
  "token",
  "reductions",
  "sort_by",
  "descending",
  "filters",
  "columns",
];

const TOKEN_LABELS: Record<TokenReduction, string> = {
  first: "first answer token",
  mean: "mean over the answer",
  max: "max over the answer",
};

function labelled(label: string, control: HTMLElement): HTMLElement {
  const wrap = element("label", "vlsg-control");
  wrap.append(element("span", "vlsg-label", label), control);
  return wrap;
}

function select(testid: string): HTMLSelectElement {
  const menu = element("select", "");
  menu.dataset.testid = testid;
  return menu;
}

/** Fill `menu` with `entries`: those that were not precomputed are listed, disabled, under "not precomputed",
 * each with its note (what to do) as its tooltip. */
function fillMenu(
  menu: HTMLSelectElement,
  entries: MenuEntry[],
  value: string,
): void {
  const option = (entry: MenuEntry): HTMLOptionElement => {
    const item = element("option", "", entry.name);
    item.value = entry.name;
    item.disabled = !entry.precomputed;
    item.title = entry.note;
    return item;
  };
  const missing = entries.filter((entry) => !entry.precomputed);
  const group = element("optgroup", "");
  group.label = "not precomputed";
  group.append(...missing.map(option));
  menu.replaceChildren(
    ...entries.filter((entry) => entry.precomputed).map(option),
    ...(missing.length ? [group] : []),
  );
  menu.value = value;
  menu.title = missing.length
    ? `not precomputed by this run: ${missing.map((e) => e.name).join(", ")} (each says what to do)`
    : "";
}

interface Card {
  root: HTMLElement;
  canvas: HTMLCanvasElement;
  question: HTMLElement;
  answer: HTMLElement;
  value: HTMLElement;
  position: number;
  /** What the card shows and what its canvas holds, as keys: unchanged keys mean nothing to redo. */
  shown: string;
  drawn: string;
}

/** Set a style property when it changes (an unchanged value written again still costs a style pass). */
function setStyle(
  node: HTMLElement,
  name: "height" | "width",
  value: string,
): void {
  if (node.style[name] !== value) node.style[name] = value;
}

/** Set a data attribute when it changes. */
function setData(node: HTMLElement, name: string, value: string): void {
  if (node.dataset[name] !== value) node.dataset[name] = value;
}

/** Set an element's text, and its tooltip to the same (the card cuts long text), when they change. */
function setText(node: HTMLElement, text: string): void {
  if (node.textContent === text) return;
  node.textContent = text;
  node.title = text;
}

/** The toolbar: map, token and aggregation menus, sort, filter and the count; each bound to a trait. */
function createControls(model: GalleryModel) {
  const root = element("div", "vlsg-toolbar");
  const method = select("gallery-method");
  const token = select("gallery-token");
  const reduction = select("gallery-reduction");
  const sort = select("gallery-sort");
  const direction = element("button", "vlsg-direction");
  direction.type = "button";
  direction.dataset.testid = "gallery-direction";
  const column = select("gallery-filter-column");
  const text = element("input", "vlsg-filter-text");
  text.type = "search";
  text.placeholder = "contains…";
  text.dataset.testid = "gallery-filter-text";
  const low = element("input", "vlsg-bound");
  const high = element("input", "vlsg-bound");
  for (const [box, name] of [
    [low, "min"],
    [high, "max"],
  ] as const) {
    box.type = "text";
    box.inputMode = "decimal";
    box.placeholder = name;
    box.dataset.testid = `gallery-filter-${name}`;
  }
  const count = element("span", "vlsg-count");
  count.dataset.testid = "gallery-count";
  const chips = element("div", "vlsg-chips");
  chips.dataset.testid = "gallery-filters";
  const sortWrap = labelled("sort", sort);
  sortWrap.append(direction);
  const filterWrap = labelled("filter", column);
  filterWrap.append(text, low, high);
  root.append(
    labelled("map", method),
    labelled("answer token", token),
    labelled("layers × heads", reduction),
    sortWrap,
    filterWrap,
    count,
  );

  const columns = (): ColumnInfo[] => model.get("columns");
  const chosen = (): ColumnInfo | undefined =>
    columns().find((c) => c.name === column.value);

  let typing: ReturnType<typeof setTimeout> | undefined;

  /** Show the filter boxes of the chosen column's kind, holding its filter. A box is left alone while what was
   * typed in it waits to be sent, and a range box that reads as its bound already ("1." for 1): the kernel's echo of
   * an earlier keystroke must not undo a later one. */
  const showFilter = (): void => {
    const info = chosen();
    const filter = info ? filterOn(model.get("filters"), info.name) : undefined;
    const numeric = info?.kind === "number";
    text.hidden = numeric;
    low.hidden = high.hidden = !numeric;
    if (typing !== undefined) return;
    if (!numeric) text.value = filter && "text" in filter ? filter.text : "";
    else
      for (const [box, bound] of [
        [low, filter && "min" in filter ? filter.min : null],
        [high, filter && "max" in filter ? filter.max : null],
      ] as const)
        if (parseBound(box.value) !== bound)
          box.value = bound === null ? "" : String(bound);
  };

  const setFilter = (filter: Filter): void =>
    update(model, { filters: withFilter(model.get("filters"), filter) });

  const later = (send: () => void, ms: number): void => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      typing = undefined;
      send();
    }, ms);
  };
  text.addEventListener("input", () =>
    later(() => setFilter({ column: column.value, text: text.value }), 200),
  );
  const onBound = (): void => {
    const min = parseBound(low.value);
    const max = parseBound(high.value);
    low.toggleAttribute("aria-invalid", min === undefined);
    high.toggleAttribute("aria-invalid", max === undefined);
    if (min === undefined || max === undefined) return;
    setFilter({ column: column.value, min, max });
  };
  for (const box of [low, high]) {
    box.addEventListener("input", () => later(onBound, 300));
    box.addEventListener("change", () => {
      clearTimeout(typing);
      typing = undefined;
      onBound();
    });
  }
  column.addEventListener("change", () => {
    clearTimeout(typing); // what was typed for the other column is dropped
    typing = undefined;
    showFilter();
  });
  method.addEventListener("change", () =>
    update(model, { method: method.value }),
  );
  token.addEventListener("change", () =>
    update(model, { token: token.value as TokenReduction }),
  );
  reduction.addEventListener("change", () => sync());
  sort.addEventListener("change", () => update(model, { sort_by: sort.value }));
  direction.addEventListener("click", () =>
    update(model, { descending: !model.get("descending") }),
  );

  /** Read every control back from the traits. */
  const sync = (): void => {
    fillMenu(method, model.get("methods"), model.get("method"));
    const reductions = model.get("reductions");
    fillMenu(
      reduction,
      reductions,
      reductions.find((r) => r.precomputed)?.name ?? "",
    );
    token.replaceChildren(
      ...TOKEN_REDUCTIONS.map((name) => {
        const option = element("option", "", TOKEN_LABELS[name]);
        option.value = name;
        return option;
      }),
    );
    token.value = model.get("token");
    const names = columns().map((c) => c.name);
    const none = element("option", "", "dataset order");
    none.value = "";
    sort.replaceChildren(
      none,
      ...names.map((name) => {
        const option = element("option", "", name);
        option.value = name;
        return option;
      }),
    );
    sort.value = model.get("sort_by");
    const descending = model.get("descending");
    direction.textContent = descending ? "↓ descending" : "↑ ascending";
    direction.title = descending
      ? "largest first (missing values last)"
      : "smallest first (missing values last)";
    const keep = column.value;
    column.replaceChildren(
      ...names.map((name) => {
        const option = element("option", "", name);
        option.value = name;
        return option;
      }),
    );
    column.value = names.includes(keep)
      ? keep
      : (names.find((n) => n === "question") ?? names[0] ?? "");
    showFilter();
    chips.replaceChildren(
      ...model.get("filters").map((filter) => {
        const chip = element("span", "vlsg-chip", describeFilter(filter));
        chip.dataset.testid = "gallery-filter-chip";
        const remove = element("button", "vlsg-chip-remove", "×");
        remove.type = "button";
        remove.title = "remove this filter";
        remove.addEventListener("click", () =>
          update(model, {
            filters: model
              .get("filters")
              .filter((f) => f.column !== filter.column),
          }),
        );
        chip.append(remove);
        return chip;
      }),
    );
  };

  const showCount = (shown: number): void => {
    const total = model.get("total");
    count.textContent =
      shown === total
        ? `${total.toLocaleString("en")} samples`
        : `${shown.toLocaleString("en")} of ${total.toLocaleString("en")} samples`;
  };

  return { root, chips, sync, showCount };
}

/**
 * Mount the gallery into `el`. Returns the function that unmounts it (listeners, timers, the open sample's view).
 */
export function mountGallery(
  model: GalleryModel,
  el: HTMLElement,
  options: GalleryOptions,
): () => void {
  const store: CardStore = storeOf(model);
  const root = element("div", "vlsg-root");
  root.dataset.view = "grid";
  const banner = element("div", "vlsg-error");
  banner.dataset.testid = "gallery-error";
  banner.setAttribute("role", "alert");
  const controls = createControls(model);
  const viewport = element("div", "vlsg-viewport");
  viewport.dataset.testid = "gallery-grid";
  viewport.tabIndex = 0;
  const spacer = element("div", "vlsg-spacer");
  viewport.append(spacer);
  const empty = element("div", "vlsg-empty", "No sample passes the filters.");
  const grid = element("div", "vlsg-grid");
  grid.append(controls.root, controls.chips, viewport, empty);

  const detail = element("div", "vlsg-detail");
  detail.dataset.testid = "gallery-detail";
  detail.hidden = true;
  const bar = element("div", "vlsg-detail-bar");
  const back = element("button", "vlsg-back", "← back to the gallery");
  back.type = "button";
  back.dataset.testid = "gallery-back";
  const title = element("span", "vlsg-detail-title");
  bar.append(back, title);
  const body = element("div", "vlsg-detail-body");
  detail.append(bar, body);

  if (options.heading) {
    const heading = element("div", "vlsg-heading", options.heading);
    heading.dataset.testid = "gallery-heading";
    root.append(heading);
  }
  root.append(banner, grid, detail);
  el.replaceChildren(root);

  // -- the order and the virtual grid -------------------------------------------------------------------------
  let order: Int32Array = new Int32Array(0);
  let values: Float32Array | null = null;
  const cards = new Map<number, Card>();
  const pool: Card[] = [];

  let orderVersion = 0;
  const readOrder = (): void => {
    const state = model.get("order");
    order =
      "indices" in state
        ? (decode(state.indices).data as Int32Array)
        : new Int32Array(0);
    values =
      "values" in state && state.values
        ? (decode(state.values).data as Float32Array)
        : null;
    orderVersion += 1;
    root.dataset.shown = String(order.length);
    controls.showCount(order.length);
    empty.hidden = order.length > 0 || model.get("total") === 0;
  };

  /** The grid's inner size, read when it changes (the resize observer), not on every scroll: reading it after the
   * DOM changed would force a layout in the middle of a frame. */
  let measured: { width: number; height: number } | null = null;
  const measure = (): void => {
    measured =
      viewport.clientWidth > 0
        ? {
            width: viewport.clientWidth - 2 * PADDING,
            height: viewport.clientHeight,
          }
        : null;
  };
  const size = (): { width: number; height: number } =>
    measured ?? {
      width: FALLBACK_SIZE.width - 2 * PADDING,
      height: FALLBACK_SIZE.height,
    };

  const makeCard = (): Card => {
    const card = element("div", "vlsg-card");
    card.dataset.testid = "gallery-card";
    const canvas = element("canvas", "vlsg-thumb");
    const question = element("div", "vlsg-question");
    const answer = element("div", "vlsg-answer");
    const value = element("div", "vlsg-value");
    card.append(canvas, question, answer, value);
    if (options.live) {
      card.tabIndex = 0;
      card.setAttribute("role", "button");
    }
    spacer.append(card);
    return {
      root: card,
      canvas,
      question,
      answer,
      value,
      position: -1,
      shown: "",
      drawn: "",
    };
  };

  /** Fill `card` with what the store holds for the sample at `position`; nothing is touched when what it would
   * show has not changed (scrolling refills only the cards that came into view). */
  const fill = (card: Card, position: number): void => {
    const index = order[position];
    const method = model.get("method");
    const token = model.get("token");
    const text = store.texts.get(index);
    const map = store.maps.get(mapKey(index, method, token));
    const picture = store.pictures.get(index);
    const bitmap = picture ? store.bitmap(index, redrawRow) : null;
    const colormap = model.get("colormap");
    const opacity = model.get("opacity");
    const drawn = [
      index,
      method,
      token,
      map === undefined ? "-" : map === null ? "0" : "1",
      bitmap ? "b" : picture ? "p" : "-",
      colormap,
      opacity,
    ].join("|");
    const shown = `${position}|${orderVersion}|${text ? 1 : 0}|${drawn}`;
    if (card.shown === shown) return;
    card.shown = shown;
    if (card.position !== position) {
      const place = cardPlace(position, columnsNow);
      card.root.style.transform = `translate(${place.x}px, ${place.y}px)`;
      card.position = position;
      card.root.dataset.position = String(position);
    }
    card.root.dataset.index = String(index);
    const failed = text?.status !== undefined && text.status !== "ok";
    card.root.classList.toggle("failed", failed);
    const answer = text ? (failed ? `failed: ${text.error}` : text.answer) : "";
    const sortBy = model.get("sort_by");
    const value =
      values && sortBy
        ? `${sortBy}: ${formatValue(values[position])}`
        : text
          ? String(text.id)
          : "";
    setText(card.question, text ? text.question : "…");
    setText(card.answer, answer);
    setText(card.value, value);
    const ready =
      text !== undefined &&
      map !== undefined &&
      (bitmap !== null || failed || !picture);
    card.root.dataset.state = failed ? "failed" : ready ? "drawn" : "loading";
    if (card.drawn === drawn) return;
    card.drawn = drawn;
    drawThumbnail(card.canvas, {
      picture: bitmap,
      size: picture ? [picture.width, picture.height] : null,
      map: map ?? null,
      colormap,
      opacity,
    });
  };

  let columnsNow = 1;
  let range = { start: 0, end: 0 };

  /** Lay out the cards in view: recycle those that left, fill those that came. */
  const render = (): void => {
    const { width, height } = size();
    const columns = gridColumns(width);
    if (columns !== columnsNow) {
      columnsNow = columns;
      for (const card of cards.values()) {
        card.position = -1;
        card.shown = "";
      }
    }
    setStyle(spacer, "height", `${gridHeight(order.length, columns)}px`);
    setStyle(
      spacer,
      "width",
      `${columns * (CARD.width + CARD.gap) - CARD.gap}px`,
    );
    range = visibleRange(viewport.scrollTop, height, order.length, columns);
    for (const [position, card] of cards) {
      if (position < range.start || position >= range.end) {
        cards.delete(position);
        card.root.hidden = true;
        pool.push(card);
      }
    }
    for (let position = range.start; position < range.end; position++) {
      let card = cards.get(position);
      if (card === undefined) {
        card = pool.pop() ?? makeCard();
        card.root.hidden = false;
        cards.set(position, card);
      }
      fill(card, position);
    }
    setData(root, "cards", String(cards.size));
  };

  /** Redraw the cards of row `index` (its picture was decoded). */
  function redrawRow(index: number): void {
    for (const [position, card] of cards)
      if (order[position] === index) fill(card, position);
  }

  // -- requests for the cards in view ------------------------------------------------------------------------
  let inFlight = 0;
  const asked = new Map<number, number[]>();

  const ensure = (): void => {
    const wanted: number[] = [];
    for (let position = range.start; position < range.end; position++)
      wanted.push(order[position]);
    const missing = store.missing(
      wanted,
      model.get("method"),
      model.get("token"),
    );
    setData(root, "busy", String(missing.indices.length > 0 || inFlight !== 0));
    if (missing.indices.length === 0) return;
    if (inFlight !== 0) return; // asked again when the answer comes
    const indices = missing.indices.slice(0, REQUEST_CARDS);
    const chosen = new Set(indices);
    const request: ItemsRequest = {
      type: "items",
      id: store.nextId(),
      indices,
      pictures: missing.pictures.filter((i) => chosen.has(i)),
    };
    inFlight = request.id;
    asked.set(request.id, request.pictures);
    model.send(request);
  };

  const onMessage = (message: unknown, buffers: DataView[]): void => {
    const items = message as ItemsMessage;
    if (items?.type !== "items") return;
    const rows = new Set(store.take(items, buffers, asked.get(items.id) ?? []));
    // Decode the pictures now, off the scrolling path: a card scrolled into view later finds its bitmap ready.
    for (const index of rows) store.bitmap(index, redrawRow);
    asked.delete(items.id);
    if (items.id === inFlight) inFlight = 0;
    for (const [position, card] of cards)
      if (rows.has(order[position])) fill(card, position);
    if (inFlight === 0) ensure();
  };
  model.on("msg:custom", onMessage);

  let frame = 0;
  const onScroll = (): void => {
    render();
    ensure();
  };
  viewport.addEventListener("scroll", onScroll, { passive: true });
  const resize =
    typeof ResizeObserver === "undefined"
      ? null
      : new ResizeObserver(() => {
          measure();
          if (measured === null) return; // not in the page yet, or hidden
          cancelAnimationFrame(frame);
          frame = requestAnimationFrame(onScroll);
        });
  resize?.observe(viewport);

  // -- the open sample ---------------------------------------------------------------------------------------
  let child: AbortController | null = null;
  let savedScroll = 0;

  const showGrid = (): void => {
    child?.abort();
    child = null;
    body.replaceChildren();
    detail.hidden = true;
    grid.hidden = false;
    root.dataset.view = "grid";
    measure();
    viewport.scrollTop = savedScroll;
    onScroll();
  };

  const showDetail = (index: number): void => {
    if (!grid.hidden) savedScroll = viewport.scrollTop;
    grid.hidden = true;
    detail.hidden = false;
    root.dataset.view = "detail";
    const text = store.texts.get(index);
    title.textContent = text
      ? `${text.id}: ${text.question} → ${text.answer}`
      : `row ${index}`;
  };

  const mountChild = (): void => {
    const ref = model.get("detail");
    if (!ref || model.get("opened") < 0) return;
    child?.abort();
    const controller = new AbortController();
    child = controller;
    showDetail(model.get("opened"));
    const place = element("div", "vlsg-child");
    body.replaceChildren(place);
    if (!options.host) {
      body.replaceChildren(
        element(
          "div",
          "vlsg-note",
          "This notebook cannot show a widget inside another (anywidget's host.getWidget is missing: anywidget " +
            "0.10 or later does it); display gallery.widget in a cell instead.",
        ),
      );
      return;
    }
    options.host
      .getWidget(ref)
      .then((widget) =>
        controller.signal.aborted
          ? undefined
          : widget.render({ el: place, signal: controller.signal }),
      )
      .catch((error: unknown) => {
        if (!controller.signal.aborted)
          body.replaceChildren(
            element(
              "div",
              "vlsg-note",
              `The sample's widget did not show: ${error}`,
            ),
          );
      });
  };

  const open = (position: number): void => {
    if (!options.live) return;
    const index = order[position];
    const text = store.texts.get(index);
    if (text === undefined || text.status !== "ok") return;
    showDetail(index);
    body.replaceChildren(element("div", "vlsg-note", `opening ${text.id}…`));
    update(model, { opened: index });
  };

  const onCardEvent = (event: Event): void => {
    if (event instanceof KeyboardEvent && event.key !== "Enter") return;
    const card = (event.target as HTMLElement).closest<HTMLElement>(
      ".vlsg-card",
    );
    if (card?.dataset.position !== undefined)
      open(Number(card.dataset.position));
  };
  spacer.addEventListener("click", onCardEvent);
  spacer.addEventListener("keydown", onCardEvent);
  back.addEventListener("click", () => {
    update(model, { opened: -1 });
    showGrid();
  });

  // -- traits ------------------------------------------------------------------------------------------------
  const showError = (): void => {
    const error = model.get("error");
    banner.textContent = error;
    banner.hidden = error === "";
    if (error !== "") {
      inFlight = 0;
      root.dataset.busy = "false";
    }
  };

  const listeners: [keyof GalleryTraits, () => void][] = [
    [
      "order",
      () => {
        readOrder();
        viewport.scrollTop = 0;
        onScroll();
      },
    ],
    ["method", onScroll],
    ["token", onScroll],
    ["colormap", render],
    ["opacity", render],
    ["sort_by", render],
    ["error", showError],
    ["detail", mountChild],
    [
      "opened",
      () => {
        if (model.get("opened") < 0 && grid.hidden) showGrid();
      },
    ],
  ];
  const syncControls = (): void => controls.sync();
  for (const name of CONTROL_TRAITS) model.on(`change:${name}`, syncControls);
  for (const [name, callback] of listeners)
    model.on(`change:${name}`, callback);

  controls.sync();
  readOrder();
  showError();
  // Ask for the cards in view once the grid has its size: a host renders the view before it is in the page, and
  // the resize observer starts it then; a page without layout (tests) starts it now at a default size.
  measure();
  if (measured !== null || el.isConnected || resize === null) onScroll();
  if (model.get("opened") >= 0 && model.get("detail")) mountChild();

  return () => {
    child?.abort();
    resize?.disconnect();
    cancelAnimationFrame(frame);
    viewport.removeEventListener("scroll", onScroll);
    model.off("msg:custom", onMessage);
    for (const name of CONTROL_TRAITS)
      model.off(`change:${name}`, syncControls);
    for (const [name, callback] of listeners)
      model.off(`change:${name}`, callback);
  };
}
