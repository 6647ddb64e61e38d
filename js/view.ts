// The whole view, wired: it lays out the parts, keeps the state they share (the preview buffer, the kernel's detail
// map, the hovered token, the request in flight) and redraws them when a trait changes or the kernel answers. The
// kernel is the notebook's, or in an exported page the one offline.ts plays from the maps the page holds.
// Each part lives in its own module:
//   toolbar.ts    the controls, each bound to a trait; tabs.ts the image tabs
//   tokens.ts     the token strip (entries from tokentext.ts)
//   previews.ts   the preview buffer and which map is shown (hover, selection, heads, comparison)
//   requests.ts   the request-id protocol: a late answer to an older click is dropped
//   headpanel.ts  the layers x heads grid of the kernel's detail map
//   caption.ts    the caption, a pure function of the state
//   png.ts        Save PNG; pictures.ts the decoded pictures
//   reliance.ts   the reliance bars, the image share per layer and the attribution to the text
//   compare.ts, region.ts, ranking.ts, heatmap.ts, headgrid.ts: compare mode, region tool, ranked heads, drawing
import { decode } from "./codec";
import { captionText, flatNote, headNames, quoteToken } from "./caption";
import { comparisonGrid, createCompareControls } from "./compare";
import { element, setText } from "./dom";
import {
  createHeadPanel,
  detailFromMessage,
  detailIsCurrent,
  headAxes,
  headsGrid,
  type Detail,
} from "./headpanel";
import { formatValue, Heatmap } from "./heatmap";
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
import {
  attributionMarks,
  createShareChart,
  imageShare,
  relianceMarks,
} from "./reliance";
import { Requests } from "./requests";
import { createTokenStrip } from "./tokens";
import { stripInput, stripItems, unmappedReason } from "./tokentext";
import { createImageTabs } from "./tabs";
import { createToolbar } from "./toolbar";

export interface ViewOptions {
  /** True with a notebook kernel behind the model, which computes any map; false in an exported page, which
   * holds only the maps computed before it was saved. */
  live: boolean;
  /** The prompt and the answer, shown as the view's heading (an exported page has no notebook around it). */
  heading?: { prompt: string; answer: string };
}

/** Traits whose change is read back into the controls and redrawn. */
const SHOWN_TRAITS: (keyof Traits)[] = [
  "methods",
  "mode",
  "layer_reduce",
  "head_reduce",
  "colormap",
  "grid_scale",
  "opacity",
  "smooth",
  "error",
  "heads",
  "region_scores",
  "compare_token",
  "comparison",
];

/** The heading of an exported page: the prompt and the answer, as text. */
function createHeading(heading: { prompt: string; answer: string }) {
  const root = element("div", "vlsw-heading");
  root.dataset.testid = "heading";
  const prompt = element("div", "vlsw-prompt");
  prompt.append(
    element("span", "vlsw-heading-label", "prompt"),
    element("span", "", heading.prompt),
  );
  const answer = element("div", "vlsw-answer");
  answer.append(
    element("span", "vlsw-heading-label", "answer"),
    element("span", "", heading.answer),
  );
  root.append(prompt, answer);
  return root;
}

/** Mount the view of `model` into `el`; returns the cleanup that removes every listener. */
export function mountView(
  model: Model,
  el: HTMLElement,
  options: ViewOptions,
): () => void {
  const controller = new AbortController();
  const { signal } = controller;
  const { live } = options;
  const unsubscribe: (() => void)[] = [];

  const info = model.get("tokens");
  const text = info.text;
  const imageOf = decode(info.image_of).data;
  const previews = new PreviewBuffer(decode(info.mappable).data);
  const requests = new Requests(model);
  let detail: Detail | null = null;
  /** Why the selected token has no detail map (an exported page without it), for the token, method and image. */
  let missing: {
    token: number;
    mode: string;
    image: number;
    note: string;
  } | null = null;
  let hover: number | null = null;
  /** The token clicked last, shown at once, until the kernel has set the `token` trait to it (the trait is the
   * kernel's to set: a value set here and not saved would be sent back, stale, with the next saved change). */
  let chosen: number | null = null;
  const selected = () => chosen ?? model.get("token");
  /** A hovered token that has no map: the caption says why. */
  let unmapped: number | null = null;
  const pictures = new Pictures(model.get("images"));

  // -- layout ---------------------------------------------------------------------------------------------
  const root = element("div", "vlsw-root");
  const heatmap = new Heatmap();
  const toolbar = createToolbar(
    model,
    live,
    {
      mode: (mode) => {
        if (mode === model.get("mode")) return;
        requests.expectAnswer();
        update(model, { mode });
        render();
      },
      save: () =>
        savePng(
          heatmap,
          {
            caption: caption.textContent ?? "",
            legend: [compare.legend, signLegend, note]
              .filter((node) => !node.hidden)
              .map((node) => node.textContent ?? "")
              .join(" "),
          },
          pngName(Number(heatmap.canvas.dataset.token), model.get("mode")),
        ),
      computeAll: () => render(),
    },
    signal,
  );
  const errorBanner = element("div", "vlsw-error");
  errorBanner.dataset.testid = "error";
  errorBanner.setAttribute("role", "alert");
  const tabs = createImageTabs(model, live, showImage, signal);

  const strip = createTokenStrip(
    stripItems(stripInput(info)),
    {
      select: choose,
      hover: (position) => {
        const mappable = position !== null && previews.has(position);
        hover = mappable ? position : null;
        unmapped = mappable ? null : position;
        render();
      },
      step: (delta) => {
        const row = (previews.row(selected()) ?? 0) + delta;
        if (row >= 0 && row < previews.mappable.length)
          choose(previews.mappable[row]);
      },
      image: showImage,
    },
    signal,
  );
  const regionLegend = element("div", "vlsw-region-legend");
  regionLegend.dataset.testid = "region-legend";

  const region = createRegionTool(
    heatmap.canvas,
    heatmap.frame,
    (message) => model.send(message),
    signal,
  );
  const compare = createCompareControls(
    strip.element,
    {
      pick: (position) => {
        if (previews.has(position)) update(model, { compare_token: position });
      },
      stop: () => update(model, { compare_token: null }),
    },
    signal,
  );
  // What the answer relies on: reliance bars in the strip, the toggle of the attribution to the text, the chart.
  const attributionToggle = element(
    "button",
    "vlsw-attribution-toggle",
    "Text attribution",
  );
  attributionToggle.type = "button";
  attributionToggle.dataset.testid = "attribution-toggle";
  attributionToggle.title =
    "Tint the earlier tokens by how much the selected token attends to each (mean over layers and heads)";
  attributionToggle.setAttribute("aria-pressed", "false");
  let attributing = false;
  attributionToggle.addEventListener(
    "click",
    () => {
      attributing = !attributing;
      attributionToggle.setAttribute("aria-pressed", String(attributing));
      attributionToggle.classList.toggle("active", attributing);
      render();
    },
    { signal },
  );
  toolbar.addTools(compare.button, region.clear, attributionToggle);
  const relianceLegend = element("div", "vlsw-reliance-legend");
  relianceLegend.dataset.testid = "reliance-legend";
  const attributionLegend = element("div", "vlsw-attribution-legend");
  attributionLegend.dataset.testid = "attribution-legend";
  const shareChart = createShareChart();
  const signLegend = element("div", "vlsw-sign-legend");
  signLegend.dataset.testid = "sign-legend";
  signLegend.append(
    element("span", "vlsw-negative", "blue: below 0"),
    " · white: 0 · ",
    element("span", "vlsw-positive", "red: above 0"),
  );
  const note = element("div", "vlsw-map-note");
  note.dataset.testid = "map-note";
  const caption = element("div", "vlsw-caption");
  caption.dataset.testid = "caption";
  caption.setAttribute("aria-live", "polite");
  const left = element("div", "vlsw-left");
  left.append(
    tabs.element,
    heatmap.element,
    compare.legend,
    signLegend,
    note,
    caption,
    shareChart.element,
  );
  const headPanel = createHeadPanel(model, signal);
  const main = element("div", "vlsw-main");
  main.append(left, headPanel.element);
  const stripBox = element("div", "vlsw-strip-box");
  stripBox.append(
    strip.element,
    regionLegend,
    relianceLegend,
    attributionLegend,
  );
  if (options.heading) root.append(createHeading(options.heading));
  root.append(toolbar.element, errorBanner, stripBox, main);
  el.replaceChildren(root);

  // -- state ----------------------------------------------------------------------------------------------
  function choose(position: number): void {
    if (!previews.has(position)) return;
    hover = null;
    // Shown at once from the previews; the kernel's answer brings the token trait and the layers x heads detail.
    chosen = position === model.get("token") ? null : position;
    requests.select(position);
    render();
  }

  function showImage(index: number): void {
    if (index === model.get("image_index") || !live) return;
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
    if (!requests.accept(message, selected())) return;
    // The kernel refused the selection: show the token it kept.
    if (message.error) chosen = null;
    detail = detailFromMessage(message, buffers) ?? detail;
    missing =
      message.note && message.mode !== undefined
        ? {
            token: message.token,
            mode: message.mode,
            image: message.image_index ?? 0,
            note: message.note,
          }
        : null;
    heatmap.canvas.dataset.request = String(message.id);
    render();
  }

  /** The first position of the shown image's tokens (a token before it cannot attend to it), or -1. */
  function imageStart(): number {
    const index = model.get("image_index");
    for (let p = 0; p < imageOf.length; p++) if (imageOf[p] === index) return p;
    return -1;
  }

  // -- drawing --------------------------------------------------------------------------------------------
  function render(): void {
    const token = selected();
    const heads = model.get("heads");
    const current = detailIsCurrent(detail, token, model);
    const shown = chooseShown(token, hover, {
      compare: () => comparisonGrid(model, token),
      heads: () =>
        heads.length > 0 && current && detail ? headsGrid(detail, heads) : null,
      preview: (position) => previews.grid(position),
    });
    const compared = shown.source === "compare";
    const scale = heatmap.draw(shown.grid, {
      colormap: model.get("colormap"),
      opacity: model.get("opacity"),
      smooth: model.get("smooth"),
    });
    heatmap.canvas.dataset.token = String(shown.position);
    heatmap.canvas.dataset.source = shown.source;
    heatmap.canvas.dataset.mode = model.get("mode");
    const against = model.get("compare_token") ?? null;
    compare.show(
      against !== null,
      against !== null && compared && scale?.kind === "diverging"
        ? { a: quoteToken(text, token), b: quoteToken(text, against) }
        : null,
    );
    signLegend.hidden = compared || scale?.kind !== "diverging";
    const flat = scale?.kind === "flat";
    note.hidden = !flat;
    if (scale && flat)
      setText(
        note,
        flatNote({
          source: shown.source,
          value: scale.range[0],
          beforeImage: shown.position < imageStart(),
        }),
      );
    const axes = headAxes(current ? detail : null);
    const words =
      unmapped !== null
        ? `${quoteToken(text, unmapped)} (position ${unmapped}) has no map: ${unmappedReason(unmapped, imageOf)}`
        : captionText({
            text,
            shown: shown.position,
            source: shown.source,
            mode: model.get("mode"),
            layerReduce: model.get("layer_reduce"),
            headReduce: model.get("head_reduce"),
            heads,
            axes,
            compareToken: against,
            scale,
            error: model.get("error"),
            live,
          });
    setText(caption, words);
    toolbar.showHeads(heads.length > 0 ? headNames(heads, axes) : null);

    strip.show(token, model.get("image_index"), against);
    showFocus(token);
    const isBusy = requests.waiting || toolbar.computing;
    root.dataset.busy = String(isBusy);
    toolbar.setBusy(isBusy);
    const why =
      missing &&
      missing.token === token &&
      missing.mode === model.get("mode") &&
      missing.image === model.get("image_index")
        ? missing.note
        : "";
    headPanel.show({
      token,
      detail,
      current,
      missing: why,
      text,
      hover: hover !== null && hover !== token ? hover : null,
    });
  }

  /** The selected token's image share per layer and, with the toggle on, its attribution to the text. */
  function showFocus(token: number): void {
    const focus = model.get("focus") ?? {};
    const label = quoteToken(text, token);
    shareChart.show(imageShare(focus, token), label);
    attributionToggle.hidden = !("attribution" in focus);
    const marks = attributing ? attributionMarks(focus, token) : null;
    strip.setAttribution(marks ? marks.mark : null, label);
    attributionLegend.hidden = marks === null;
    if (marks)
      setText(
        attributionLegend,
        `blue: how much ${label} attends to each earlier token (mean over layers and heads), scaled to the largest, ${formatValue(marks.top)}. Hover a token for its value.`,
      );
  }

  function showReliance(): void {
    const marks = relianceMarks(model.get("reliance") ?? {});
    strip.setReliance(marks ? marks.mark : null);
    relianceLegend.hidden = marks === null;
    if (marks) {
      const info = model.get("reliance");
      const threshold = "threshold" in info ? info.threshold : Math.LN2;
      setText(
        relianceLegend,
        `bar under each answer token: how much it relies on the image, the nats its log-probability loses when the picture is ${"baseline" in info && info.baseline === "blur" ? "blurred" : "hidden"} (longest ${formatValue(marks.top)}); red: from the image (loses more than ${formatValue(threshold)}), grey: less, hatched: gains. Hover a token for its numbers.`,
      );
    }
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
    strip.setScores(tints ? (position) => tints.score(position) : null);
    regionLegend.hidden = tints === null;
    if (tints && "mode" in scores)
      setText(
        regionLegend,
        `green: how much each token's ${scores.mode} map puts on the outlined region (the sum over its cells; strongest ${formatValue(tints.top)}). Hover a token for its score.`,
      );
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
    onChange(model, ["focus"], () => render()),
    onChange(model, ["reliance"], () => showReliance()),
    onChange(model, ["image_index"], () => {
      syncControls();
      showPicture();
    }),
    // A new selection, from a click or from Python, ends any hover preview; the kernel's echo of the click ends
    // the wait for it.
    onChange(model, ["token"], () => {
      if (model.get("token") === chosen) chosen = null;
      hover = null;
      render();
    }),
  );
  const messageHandler = (message: KernelMessage, buffers: DataView[]) =>
    onMessage(message, buffers);
  model.on("msg:custom", messageHandler);
  unsubscribe.push(() => model.off("msg:custom", messageHandler));

  previews.read(model.get("previews"));
  showReliance();
  syncControls();
  showPicture();
  pictures.load(signal, showPicture, (error: unknown) => {
    errorBanner.hidden = false;
    errorBanner.textContent = `Could not decode the picture: ${String(error)}`;
  });
  choose(selected());

  return () => {
    controller.abort();
    for (const stop of unsubscribe) stop();
    pictures.close();
  };
}
