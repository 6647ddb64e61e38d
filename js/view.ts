// The whole view: controls, token strip, heatmap and head grid, wired to the model.
import { decode, decodeFloat32, type NDArray } from "./codec";
import { COLORMAPS } from "./colormap";
import { comparisonGrid, createCompareControls } from "./compare";
import { type AxisLabels, HeadGrid, headName, meanOfHeads } from "./headgrid";
import { formatValue, Heatmap, type Grid } from "./heatmap";
import {
  onChange,
  update,
  type ColormapName,
  type HeadRankingInfo,
  type KernelMessage,
  type Model,
  type Reduction,
  type Traits,
} from "./model";
import { markRanking, rankingSummary } from "./ranking";
import { createRegionTool, scoreTints } from "./region";
import { createTokenStrip } from "./tokens";
import { displayText, stripItems } from "./tokentext";

const REDUCTIONS: Reduction[] = ["mean", "sum", "max", "min"];

export interface ViewOptions {
  /** False in the offline HTML export: no kernel answers, so clicks show the aggregated previews only. */
  kernel: boolean;
}

interface Detail {
  token: number;
  mode: string;
  image: number;
  map: NDArray<Float32Array>;
  labels: AxisLabels;
}

interface PreviewSet {
  maps: Float32Array;
  ready: Uint8Array;
  h: number;
  w: number;
}

// Request ids are per model, so several views of one widget never mistake each other's answers for their own.
const requestCounters = new WeakMap<Model, { last: number }>();

function nextRequestId(model: Model): number {
  const counter = requestCounters.get(model) ?? { last: 0 };
  requestCounters.set(model, counter);
  counter.last += 1;
  return counter.last;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function select<T extends string>(
  label: string,
  testid: string,
  options: readonly T[],
  signal: AbortSignal,
  onInput: (value: T) => void,
): {
  root: HTMLElement;
  input: HTMLSelectElement;
  setOptions(options: readonly T[]): void;
} {
  const root = element("label", "vlsw-control", label);
  const input = element("select", "");
  input.dataset.testid = testid;
  const setOptions = (values: readonly T[]) => {
    input.replaceChildren(
      ...values.map((value) => {
        const option = element("option", "", value);
        option.value = value;
        return option;
      }),
    );
  };
  setOptions(options);
  input.addEventListener("change", () => onInput(input.value as T), { signal });
  root.append(input);
  return { root, input, setOptions };
}

/** Mount the view of `model` into `el`; returns the cleanup that removes every listener. */
export function mountView(
  model: Model,
  el: HTMLElement,
  options: ViewOptions,
): () => void {
  const controller = new AbortController();
  const { signal } = controller;
  const unsubscribe: (() => void)[] = [];

  const info = model.get("tokens");
  const strings = info.strings;
  const mappable = decode(info.mappable).data;
  const rowOf = new Map<number, number>();
  Array.from(mappable).forEach((position, row) => rowOf.set(position, row));

  let previews: PreviewSet | null = null;
  let detail: Detail | null = null;
  let hover: number | null = null;
  let pendingId = 0;
  let awaitingKernel = false;
  let computingAll = false;
  let pictures: (ImageBitmap | null)[] = [];

  // -- layout ---------------------------------------------------------------------------------------------
  const root = element("div", "vlsw-root");
  const toolbar = element("div", "vlsw-toolbar");
  const method = select(
    "method",
    "method",
    model.get("methods"),
    signal,
    (mode) => {
      if (options.kernel) awaitingKernel = true;
      update(model, { mode });
      render();
    },
  );
  const layerReduce = select(
    "layers",
    "layer-reduce",
    REDUCTIONS,
    signal,
    (value) => update(model, { layer_reduce: value }),
  );
  const headReduce = select(
    "heads",
    "head-reduce",
    REDUCTIONS,
    signal,
    (value) => update(model, { head_reduce: value }),
  );
  const colormap = select<ColormapName>(
    "colours",
    "colormap",
    COLORMAPS,
    signal,
    (value) => update(model, { colormap: value }),
  );
  const opacityLabel = element("label", "vlsw-control", "opacity");
  const opacity = element("input", "");
  opacity.type = "range";
  opacity.min = "0";
  opacity.max = "1";
  opacity.step = "0.05";
  opacity.dataset.testid = "opacity";
  opacity.addEventListener(
    "input",
    () => update(model, { opacity: Number(opacity.value) }),
    {
      signal,
    },
  );
  opacityLabel.append(opacity);
  const smoothLabel = element("label", "vlsw-control", "smooth");
  const smooth = element("input", "");
  smooth.type = "checkbox";
  smooth.dataset.testid = "smooth";
  smooth.addEventListener(
    "change",
    () => update(model, { smooth: smooth.checked }),
    { signal },
  );
  smoothLabel.append(smooth);
  const save = element("button", "vlsw-button", "Save PNG");
  save.type = "button";
  save.dataset.testid = "save-png";
  save.addEventListener("click", () => savePng(), { signal });
  const computeAll = element("button", "vlsw-button", "Compute all tokens");
  computeAll.type = "button";
  computeAll.dataset.testid = "compute-all";
  computeAll.addEventListener(
    "click",
    () => {
      computingAll = true;
      model.send({ type: "compute_all" });
      render();
    },
    { signal },
  );
  const progress = element("progress", "vlsw-progress");
  progress.hidden = true;
  const busy = element("span", "vlsw-busy", "computing…");
  busy.dataset.testid = "busy";
  toolbar.append(
    method.root,
    layerReduce.root,
    headReduce.root,
    colormap.root,
    opacityLabel,
    smoothLabel,
    save,
    computeAll,
    progress,
    busy,
  );

  const errorBanner = element("div", "vlsw-error");
  errorBanner.dataset.testid = "error";
  errorBanner.setAttribute("role", "alert");

  const tabs = element("div", "vlsw-tabs");
  model.get("images").forEach((_, index) => {
    const tab = element("button", "vlsw-tab", `image ${index + 1}`);
    tab.type = "button";
    tab.dataset.testid = "image-tab";
    tab.dataset.image = String(index);
    tab.addEventListener("click", () => showImage(index), { signal });
    tabs.append(tab);
  });
  tabs.hidden = model.get("images").length < 2;
  // Without a kernel nothing can recompute the previews, so the controls that need it are off.
  for (const input of [method.input, layerReduce.input, headReduce.input]) {
    input.disabled = !options.kernel;
  }
  for (const tab of tabs.querySelectorAll("button"))
    tab.disabled = !options.kernel;

  const strip = createTokenStrip(
    stripItems({
      strings,
      special: info.special,
      imageOf: decode(info.image_of).data,
      genStart: info.gen_start,
      mappable,
      grounding: decode(info.grounding).data,
    }),
    {
      select: (position) => choose(position),
      hover: (position) => {
        hover = position;
        render();
      },
      step: (delta) => {
        const row = (rowOf.get(model.get("token")) ?? 0) + delta;
        if (row >= 0 && row < mappable.length) choose(mappable[row]);
      },
      image: (index) => showImage(index),
    },
    signal,
  );

  const heatmap = new Heatmap();
  const region = createRegionTool(
    heatmap.canvas,
    heatmap.frame,
    (message) => {
      if (options.kernel) model.send(message);
    },
    signal,
  );
  const compare = createCompareControls(
    strip.element,
    {
      pick: (position) => {
        if (options.kernel && rowOf.has(position))
          update(model, { compare_token: position });
      },
      stop: () => update(model, { compare_token: null }),
    },
    signal,
  );
  compare.button.hidden = !options.kernel;
  toolbar.append(compare.button, region.clear);
  const caption = element("div", "vlsw-caption");
  caption.dataset.testid = "caption";
  const main = element("div", "vlsw-main");
  const left = element("div", "vlsw-left");
  left.append(tabs, heatmap.element, compare.legend, caption);
  const right = element("div", "vlsw-right");
  const gridHeader = element("div", "vlsw-grid-header", "layers × heads ");
  const aggregate = element("button", "vlsw-button", "back to aggregate");
  aggregate.type = "button";
  aggregate.dataset.testid = "aggregate";
  aggregate.addEventListener("click", () => update(model, { heads: [] }), {
    signal,
  });
  gridHeader.append(aggregate);
  const grid = new HeadGrid(
    {
      pick: (layer, head, extend) => {
        const current = model.get("heads");
        const has = current.some(([l, k]) => l === layer && k === head);
        const heads: [number, number][] = !extend
          ? [[layer, head]]
          : has
            ? current.filter(([l, k]) => l !== layer || k !== head)
            : [...current, [layer, head]];
        update(model, { heads });
      },
    },
    signal,
  );
  const gridNote = element("div", "vlsw-note");
  const rankingNote = element("div", "vlsw-note");
  rankingNote.dataset.testid = "head-ranking";
  const ranking = model.get("head_ranking") ?? {};
  rankingNote.hidden = !("top" in ranking);
  if ("top" in ranking)
    rankingNote.textContent = `localization heads: ${rankingSummary(ranking as HeadRankingInfo).join(", ")}`;
  right.append(gridHeader, grid.element, gridNote, rankingNote);
  main.append(left, right);
  root.append(toolbar, errorBanner, strip.element, main);
  el.replaceChildren(root);

  // -- state ----------------------------------------------------------------------------------------------
  function readPreviews(): void {
    const value = model.get("previews");
    if (!("maps" in value)) {
      previews = null;
      return;
    }
    const maps = decodeFloat32(value.maps);
    previews = {
      maps: maps.data,
      ready: decode(value.ready).data as Uint8Array,
      h: maps.shape[1],
      w: maps.shape[2],
    };
  }

  function previewOf(position: number): Grid | null {
    const row = rowOf.get(position);
    if (!previews || row === undefined || !previews.ready[row]) return null;
    const size = previews.h * previews.w;
    return {
      values: previews.maps.subarray(row * size, (row + 1) * size),
      h: previews.h,
      w: previews.w,
    };
  }

  function detailIsCurrent(): boolean {
    return (
      detail !== null &&
      detail.token === model.get("token") &&
      detail.mode === model.get("mode") &&
      detail.image === model.get("image_index")
    );
  }

  function choose(position: number): void {
    if (!rowOf.has(position)) return;
    hover = null;
    if (!options.kernel) {
      update(model, { token: position });
      return;
    }
    // Shown at once from the previews; the kernel's answer brings the layers x heads detail.
    model.set("token", position);
    pendingId = nextRequestId(model);
    model.send({ type: "select", id: pendingId, token: position });
    render();
  }

  function showImage(index: number): void {
    if (index === model.get("image_index") || !options.kernel) return;
    awaitingKernel = true;
    update(model, { image_index: index });
    render();
  }

  /** Write previews the kernel computed one by one into the preview buffer (shared by every view of the model). */
  function patchPreviews(
    message: Extract<KernelMessage, { type: "preview" }>,
    buffers: DataView[],
  ): void {
    const rows = decode({ ...message.rows, data: buffers[message.rows.buffer] })
      .data as Int32Array;
    const maps = decodeFloat32({
      ...message.maps,
      data: buffers[message.maps.buffer],
    });
    if (
      !previews ||
      maps.shape[1] !== previews.h ||
      maps.shape[2] !== previews.w
    )
      return; // a full update of the previews is on its way
    const size = previews.h * previews.w;
    rows.forEach((row, i) => {
      previews?.maps.set(
        maps.data.subarray(i * size, (i + 1) * size),
        row * size,
      );
      if (previews) previews.ready[row] = 1;
    });
    syncControls();
    render();
  }

  function onMessage(message: KernelMessage, buffers: DataView[]): void {
    if (message.type === "preview") {
      patchPreviews(message, buffers);
      return;
    }
    if (message.type === "progress") {
      computingAll = message.done < message.total;
      progress.hidden = !computingAll;
      progress.max = message.total;
      progress.value = message.done;
      render();
      return;
    }
    if (message.id !== 0 && message.id !== pendingId) return; // a late answer to an older selection
    if (message.id === 0 && message.token !== model.get("token")) return;
    if (message.id === pendingId) pendingId = 0;
    awaitingKernel = false;
    // The kernel refused the selection: show the token it kept.
    if (message.error && message.token !== model.get("token"))
      model.set("token", message.token);
    if (
      message.detail &&
      message.mode !== undefined &&
      message.image_index !== undefined
    ) {
      detail = {
        token: message.token,
        mode: message.mode,
        image: message.image_index,
        map: decodeFloat32({
          ...message.detail,
          data: buffers[message.detail.buffer],
        }),
        labels: {
          layers: message.layer_labels ?? [],
          heads: message.head_labels ?? [],
        },
      };
    }
    heatmap.canvas.dataset.request = String(message.id);
    render();
  }

  // -- drawing --------------------------------------------------------------------------------------------
  function render(): void {
    const token = model.get("token");
    const hovering = hover !== null && hover !== token;
    const shown = hovering ? (hover as number) : token;
    const heads = model.get("heads");
    let shownGrid: Grid | null;
    let source: string;
    const compared = hovering ? null : comparisonGrid(model);
    if (compared) {
      shownGrid = compared;
      source = "compare";
    } else if (!hovering && heads.length > 0 && detailIsCurrent() && detail) {
      const [, , h, w] = detail.map.shape;
      shownGrid = { values: meanOfHeads(detail.map, heads), h, w };
      source = "heads";
    } else {
      shownGrid = previewOf(shown);
      source = shownGrid ? (hovering ? "hover" : "selection") : "pending";
    }
    const look = {
      colormap: compared ? ("diverging" as const) : model.get("colormap"),
      opacity: model.get("opacity"),
      smooth: model.get("smooth"),
      centred: compared !== null,
    };
    const range = heatmap.draw(shownGrid, look);
    heatmap.canvas.dataset.token = String(shown);
    heatmap.canvas.dataset.source = source;
    heatmap.canvas.dataset.mode = model.get("mode");
    const what =
      source === "heads" || (source === "compare" && heads.length > 0)
        ? `heads ${heads.map(([l, k]) => (detail ? headName(l, k, detail.labels, detail.map.shape[0], detail.map.shape[1]) : `L${l}H${k}`)).join(", ")}`
        : `${model.get("layer_reduce")} over layers, ${model.get("head_reduce")} over heads`;
    const quoted = (position: number) =>
      JSON.stringify(displayText(strings[position] ?? ""));
    const against = model.get("compare_token") ?? null;
    compare.show(
      against === null ? null : { a: quoted(token), b: quoted(against) },
    );
    const text =
      source === "compare" && against !== null
        ? `${quoted(shown)} minus ${quoted(against)} (position ${against}),`
        : quoted(shown);
    const missing = model.get("error")
      ? "no map (see the error above)"
      : `not computed for ${model.get("mode")} yet${options.kernel ? ": click to compute" : ""}`;
    caption.textContent =
      source === "pending"
        ? `${text} (position ${shown}): ${missing}`
        : `${text} (position ${shown}) · ${model.get("mode")} · ${what} · ${formatValue(range[0])} to ${formatValue(range[1])}`;

    strip.show(token, model.get("image_index"));
    const isBusy = pendingId !== 0 || awaitingKernel || computingAll;
    root.dataset.busy = String(isBusy);
    busy.hidden = !isBusy;

    if (!options.kernel) {
      grid.element.hidden = true;
      aggregate.hidden = true;
      gridNote.textContent = "The layers × heads grid needs a running kernel.";
    } else if (detailIsCurrent() && detail) {
      grid.element.hidden = false;
      gridNote.textContent =
        "click a head to show it alone; shift-click to add heads";
      grid.draw(detail.map, heads, model.get("colormap"), detail.labels);
      markRanking(grid.element, model.get("head_ranking") ?? {});
    } else {
      gridNote.textContent = "loading…";
    }
    aggregate.disabled = heads.length === 0;
  }

  function syncControls(): void {
    method.setOptions(model.get("methods"));
    method.input.value = model.get("mode");
    layerReduce.input.value = model.get("layer_reduce");
    headReduce.input.value = model.get("head_reduce");
    colormap.input.value = model.get("colormap");
    opacity.value = String(model.get("opacity"));
    smooth.checked = model.get("smooth");
    errorBanner.textContent = model.get("error");
    errorBanner.hidden = model.get("error") === "";
    for (const tab of tabs.querySelectorAll<HTMLElement>(".vlsw-tab")) {
      tab.classList.toggle(
        "selected",
        tab.dataset.image === String(model.get("image_index")),
      );
    }
    const pending = (position: number) => previewOf(position) === null;
    strip.setPending(pending);
    const scores = model.get("region_scores") ?? {};
    const tints = scoreTints(scores, model.get("image_index"));
    strip.setScores(tints);
    region.show(tints && "box" in scores ? scores.box : null);
    computeAll.hidden = !options.kernel || !Array.from(mappable).some(pending);
  }

  function showPicture(): void {
    const index = model.get("image_index");
    const picture = model.get("images")[index];
    if (picture)
      heatmap.setPicture(
        pictures[index] ?? null,
        picture.width,
        picture.height,
      );
    render();
  }

  function savePng(): void {
    const source = heatmap.canvas;
    const out = document.createElement("canvas");
    const barHeight = 24;
    out.width = source.width;
    out.height = source.height + barHeight;
    const ctx = out.getContext("2d");
    if (!ctx) return;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.drawImage(source, 0, 0);
    const bar = heatmap.element.querySelector(
      ".vlsw-colorbar canvas",
    ) as HTMLCanvasElement;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(bar, 60, source.height + 6, out.width - 120, barHeight - 12);
    ctx.fillStyle = "#000";
    ctx.font = "12px sans-serif";
    ctx.textBaseline = "middle";
    ctx.fillText(
      formatValue(Number(heatmap.element.dataset.min)),
      4,
      source.height + barHeight / 2,
    );
    ctx.textAlign = "right";
    ctx.fillText(
      formatValue(Number(heatmap.element.dataset.max)),
      out.width - 4,
      source.height + barHeight / 2,
    );
    const link = document.createElement("a");
    link.download = `saliency-position-${model.get("token")}-${model.get("mode")}.png`;
    link.href = out.toDataURL("image/png");
    link.click();
  }

  // -- wiring ---------------------------------------------------------------------------------------------
  const allTraits: (keyof Traits)[] = [
    "methods",
    "mode",
    "layer_reduce",
    "head_reduce",
    "colormap",
    "opacity",
    "smooth",
    "error",
    "heads",
    "region_scores",
    "compare_token",
    "comparison",
  ];
  unsubscribe.push(
    onChange(model, ["previews"], () => {
      readPreviews();
      syncControls();
      render();
    }),
    onChange(model, allTraits, () => {
      syncControls();
      render();
    }),
    onChange(model, ["image_index"], () => {
      syncControls();
      showPicture();
    }),
    // A new selection, from a click or from Python, ends any hover preview.
    onChange(model, ["token"], () => {
      hover = null;
      render();
    }),
  );
  const messageHandler = (message: KernelMessage, buffers: DataView[]) =>
    onMessage(message, buffers);
  model.on("msg:custom", messageHandler);
  unsubscribe.push(() => model.off("msg:custom", messageHandler));

  readPreviews();
  syncControls();
  showPicture();
  Promise.all(
    model
      .get("images")
      .map((picture) =>
        createImageBitmap(
          new Blob([picture.png as unknown as BlobPart], { type: "image/png" }),
        ),
      ),
  ).then(
    (bitmaps) => {
      if (signal.aborted) return;
      pictures = bitmaps;
      showPicture();
    },
    (error: unknown) => {
      errorBanner.hidden = false;
      errorBanner.textContent = `Could not decode the picture: ${String(error)}`;
    },
  );
  if (options.kernel) choose(model.get("token"));

  return () => {
    controller.abort();
    for (const stop of unsubscribe) stop();
    for (const picture of pictures) picture?.close();
  };
}
