// The whole view, wired: it lays out the parts, keeps the state they share (the preview buffer, the kernel's detail
// map, the hovered token, the request in flight) and redraws them when a trait changes or the kernel answers.
// Each part lives in its own module:
//   toolbar.ts    the controls, each bound to a trait; tabs.ts the image tabs
//   tokens.ts     the token strip (entries from tokentext.ts)
//   previews.ts   the preview buffer and which map is shown (hover, selection, heads, comparison)
//   requests.ts   the request-id protocol: a late answer to an older click is dropped
//   headpanel.ts  the layers x heads grid of the kernel's detail map
//   caption.ts    the caption, a pure function of the state
//   png.ts        Save PNG; pictures.ts the decoded pictures
//   compare.ts, region.ts, ranking.ts, heatmap.ts, headgrid.ts: compare mode, region tool, ranked heads, drawing
import { decode } from "./codec";
import { captionText, quoteToken } from "./caption";
import { comparisonGrid, createCompareControls } from "./compare";
import { element } from "./dom";
import {
  createHeadPanel,
  detailFromMessage,
  detailIsCurrent,
  headAxes,
  headsGrid,
  type Detail,
} from "./headpanel";
import { Heatmap } from "./heatmap";
import {
  onChange,
  update,
  type KernelMessage,
  type Model,
  type Traits,
} from "./model";
import { Pictures } from "./pictures";
import { pngName, savePng } from "./png";
import { chooseShown, PreviewBuffer } from "./previews";
import { createRegionTool, scoreTints } from "./region";
import { Requests } from "./requests";
import { createTokenStrip } from "./tokens";
import { stripInput, stripItems } from "./tokentext";
import { createImageTabs } from "./tabs";
import { createToolbar } from "./toolbar";

export interface ViewOptions {
  /** False in the offline HTML export: no kernel answers, so clicks show the aggregated previews only. */
  kernel: boolean;
}

/** Traits whose change is read back into the controls and redrawn. */
const SHOWN_TRAITS: (keyof Traits)[] = [
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

/** Mount the view of `model` into `el`; returns the cleanup that removes every listener. */
export function mountView(
  model: Model,
  el: HTMLElement,
  options: ViewOptions,
): () => void {
  const controller = new AbortController();
  const { signal } = controller;
  const { kernel } = options;
  const unsubscribe: (() => void)[] = [];

  const info = model.get("tokens");
  const text = info.text;
  const previews = new PreviewBuffer(decode(info.mappable).data);
  const requests = new Requests(model);
  let detail: Detail | null = null;
  let hover: number | null = null;
  const pictures = new Pictures(model.get("images"));

  // -- layout ---------------------------------------------------------------------------------------------
  const root = element("div", "vlsw-root");
  const heatmap = new Heatmap();
  const toolbar = createToolbar(
    model,
    kernel,
    {
      mode: (mode) => {
        if (kernel) requests.expectAnswer();
        update(model, { mode });
        render();
      },
      save: () =>
        savePng(heatmap, pngName(model.get("token"), model.get("mode"))),
      computeAll: () => render(),
    },
    signal,
  );
  const errorBanner = element("div", "vlsw-error");
  errorBanner.dataset.testid = "error";
  errorBanner.setAttribute("role", "alert");
  const tabs = createImageTabs(model, kernel, showImage, signal);

  const strip = createTokenStrip(
    stripItems(stripInput(info)),
    {
      select: choose,
      hover: (position) => {
        hover = position;
        render();
      },
      step: (delta) => {
        const row = (previews.row(model.get("token")) ?? 0) + delta;
        if (row >= 0 && row < previews.mappable.length)
          choose(previews.mappable[row]);
      },
      image: showImage,
    },
    signal,
  );

  const region = createRegionTool(
    heatmap.canvas,
    heatmap.frame,
    (message) => {
      if (kernel) model.send(message);
    },
    signal,
  );
  const compare = createCompareControls(
    strip.element,
    {
      pick: (position) => {
        if (kernel && previews.has(position))
          update(model, { compare_token: position });
      },
      stop: () => update(model, { compare_token: null }),
    },
    signal,
  );
  compare.button.hidden = !kernel;
  toolbar.element.append(compare.button, region.clear);
  const caption = element("div", "vlsw-caption");
  caption.dataset.testid = "caption";
  const left = element("div", "vlsw-left");
  left.append(tabs.element, heatmap.element, compare.legend, caption);
  const headPanel = createHeadPanel(model, kernel, signal);
  const main = element("div", "vlsw-main");
  main.append(left, headPanel.element);
  root.append(toolbar.element, errorBanner, strip.element, main);
  el.replaceChildren(root);

  // -- state ----------------------------------------------------------------------------------------------
  function choose(position: number): void {
    if (!previews.has(position)) return;
    hover = null;
    if (!kernel) {
      update(model, { token: position });
      return;
    }
    // Shown at once from the previews; the kernel's answer brings the layers x heads detail.
    model.set("token", position);
    requests.select(position);
    render();
  }

  function showImage(index: number): void {
    if (index === model.get("image_index") || !kernel) return;
    requests.expectAnswer();
    update(model, { image_index: index });
    render();
  }

  function onMessage(message: KernelMessage, buffers: DataView[]): void {
    if (message.type === "preview") {
      if (previews.patch(message, buffers)) {
        syncControls();
        render();
      }
      return;
    }
    if (message.type === "progress") {
      toolbar.progress(message.done, message.total);
      render();
      return;
    }
    if (!requests.accept(message, model.get("token"))) return;
    // The kernel refused the selection: show the token it kept.
    if (message.error && message.token !== model.get("token"))
      model.set("token", message.token);
    detail = detailFromMessage(message, buffers) ?? detail;
    heatmap.canvas.dataset.request = String(message.id);
    render();
  }

  // -- drawing --------------------------------------------------------------------------------------------
  function render(): void {
    const token = model.get("token");
    const heads = model.get("heads");
    const current = detailIsCurrent(detail, model);
    const shown = chooseShown(token, hover, {
      compare: () => comparisonGrid(model),
      heads: () =>
        heads.length > 0 && current && detail ? headsGrid(detail, heads) : null,
      preview: (position) => previews.grid(position),
    });
    const compared = shown.source === "compare";
    const range = heatmap.draw(shown.grid, {
      colormap: compared ? "diverging" : model.get("colormap"),
      opacity: model.get("opacity"),
      smooth: model.get("smooth"),
      centred: compared,
    });
    heatmap.canvas.dataset.token = String(shown.position);
    heatmap.canvas.dataset.source = shown.source;
    heatmap.canvas.dataset.mode = model.get("mode");
    const against = model.get("compare_token") ?? null;
    compare.show(
      against === null
        ? null
        : { a: quoteToken(text, token), b: quoteToken(text, against) },
    );
    caption.textContent = captionText({
      text,
      shown: shown.position,
      source: shown.source,
      mode: model.get("mode"),
      layerReduce: model.get("layer_reduce"),
      headReduce: model.get("head_reduce"),
      heads,
      axes: headAxes(detail),
      compareToken: against,
      range,
      error: model.get("error"),
      kernel,
    });

    strip.show(token, model.get("image_index"));
    const isBusy = requests.waiting || toolbar.computing;
    root.dataset.busy = String(isBusy);
    toolbar.setBusy(isBusy);
    headPanel.show(detail, current);
  }

  function syncControls(): void {
    toolbar.sync();
    errorBanner.textContent = model.get("error");
    errorBanner.hidden = model.get("error") === "";
    tabs.sync();
    const pending = (position: number) => previews.pending(position);
    strip.setPending(pending);
    const scores = model.get("region_scores") ?? {};
    const tints = scoreTints(scores, model.get("image_index"));
    strip.setScores(tints);
    region.show(tints && "box" in scores ? scores.box : null);
    toolbar.showComputeAll(Array.from(previews.mappable).some(pending));
  }

  function showPicture(): void {
    pictures.show(heatmap, model.get("image_index"));
    render();
  }

  // -- wiring ---------------------------------------------------------------------------------------------
  unsubscribe.push(
    onChange(model, ["previews"], () => {
      previews.read(model.get("previews"));
      syncControls();
      render();
    }),
    onChange(model, SHOWN_TRAITS, () => {
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

  previews.read(model.get("previews"));
  syncControls();
  showPicture();
  pictures.load(signal, showPicture, (error: unknown) => {
    errorBanner.hidden = false;
    errorBanner.textContent = `Could not decode the picture: ${String(error)}`;
  });
  if (kernel) choose(model.get("token"));

  return () => {
    controller.abort();
    for (const stop of unsubscribe) stop();
    pictures.close();
  };
}
