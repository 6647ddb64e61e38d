// The toolbar, in three groups: what the map is (method, and how layers and heads are aggregated), how it looks
// (colours, opacity, smoothing) and tools (compare, region, Save PNG, compute all). Each control is bound to one
// trait, in the manner of lonboard: input on the control writes the trait, and `sync()` reads every trait back into
// its control (after a change from Python or from another view of the same widget).
import { element } from "./dom";
import { update, type Model, type Traits } from "./model";

/** A control on screen and how it reads its trait back. */
interface Control {
  root: HTMLElement;
  sync(): void;
}

interface Menu<T extends string> {
  root: HTMLElement;
  input: HTMLSelectElement;
  setOptions(options: readonly T[]): void;
}

/** The value of the option a menu shows while selected heads replace its aggregation. */
const HEADS_CHOSEN = "";

/** A labelled `<select>` of `options`; `onInput` gets the chosen value. */
function menu<T extends string>(
  label: string,
  testid: string,
  options: readonly T[],
  signal: AbortSignal,
  onInput: (value: T) => void,
): Menu<T> {
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

type MenuTrait = "layer_reduce" | "head_reduce" | "colormap";

/** A menu bound to the trait `name`; choosing a reduction also drops selected heads, which it replaces. */
function traitMenu<K extends MenuTrait>(
  model: Model,
  name: K,
  label: string,
  testid: string,
  options: readonly Traits[K][],
  signal: AbortSignal,
): Control & { input: HTMLSelectElement } {
  const control = menu(label, testid, options, signal, (value) => {
    const heads = name !== "colormap" && model.get("heads")?.length > 0;
    update(model, { [name]: value, ...(heads ? { heads: [] } : {}) });
  });
  return {
    ...control,
    sync: () => {
      control.input.value = model.get(name);
    },
  };
}

/** Show `text` as the chosen entry of `input` (an option that no trait value has), or remove it (null). */
function showChosen(input: HTMLSelectElement, text: string | null): void {
  let option = input.querySelector<HTMLOptionElement>(".vlsw-chosen");
  if (text === null) {
    option?.remove();
    return;
  }
  if (!option) {
    option = element("option", "vlsw-chosen");
    option.value = HEADS_CHOSEN;
    input.prepend(option);
  }
  option.textContent = text;
  input.value = HEADS_CHOSEN;
}

/** How an `<input>` holds a trait's value: the event that says it changed, and reading and writing the value. */
interface InputBinding<V> {
  event: "input" | "change";
  read(input: HTMLInputElement): V;
  write(input: HTMLInputElement, value: V): void;
}

/** A labelled `<input>` bound to the trait `name`. */
function traitInput<K extends "opacity" | "smooth">(
  model: Model,
  name: K,
  label: string,
  input: HTMLInputElement,
  binding: InputBinding<Traits[K]>,
  signal: AbortSignal,
): Control {
  const root = element("label", "vlsw-control", label);
  input.addEventListener(
    binding.event,
    () => update(model, { [name]: binding.read(input) }),
    { signal },
  );
  root.append(input);
  return { root, sync: () => binding.write(input, model.get(name)) };
}

function button(text: string, testid: string): HTMLButtonElement {
  const node = element("button", "vlsw-button", text);
  node.type = "button";
  node.dataset.testid = testid;
  return node;
}

export interface ToolbarHandlers {
  /** The method menu chose `mode` (the view sets the trait: it waits for the kernel's answer). */
  mode(mode: string): void;
  save(): void;
  /** "Compute all tokens" was clicked and sent; the busy state changed. */
  computeAll(): void;
}

export interface Toolbar {
  element: HTMLElement;
  /** Put the view's own buttons (compare, clear region) first in the tools group. */
  addTools(...nodes: HTMLElement[]): void;
  /** Read every trait back into its control. */
  sync(): void;
  /** Name the selected heads in the aggregation menus (they replace the aggregation), or null for none. */
  showHeads(names: string | null): void;
  /** Show "Compute all tokens" only while some token's map is missing (and a kernel can compute it). */
  showComputeAll(needed: boolean): void;
  /** The kernel's progress on "compute all". */
  progress(done: number, total: number): void;
  /** True from a click on "Compute all tokens" until its last progress message. */
  readonly computing: boolean;
  setBusy(busy: boolean): void;
}

/** A labelled group of controls. */
function group(label: string, testid: string): HTMLElement {
  const node = element("div", "vlsw-group");
  node.setAttribute("role", "group");
  node.setAttribute("aria-label", label);
  node.dataset.testid = testid;
  node.append(element("span", "vlsw-group-label", label));
  return node;
}

/**
 * Method, layers and heads aggregation, colours, opacity, smoothing, Save PNG, Compute all, progress and busy.
 * `live`: a kernel can compute maps; without one (an exported page) the aggregation is fixed and nothing more is
 * computed.
 */
export function createToolbar(
  model: Model,
  live: boolean,
  handlers: ToolbarHandlers,
  signal: AbortSignal,
): Toolbar {
  const root = element("div", "vlsw-toolbar");
  const method = menu("method", "method", model.get("methods"), signal, (m) =>
    handlers.mode(m),
  );
  const layerReduce = traitMenu(
    model,
    "layer_reduce",
    "layers",
    "layer-reduce",
    model.get("reductions"),
    signal,
  );
  const headReduce = traitMenu(
    model,
    "head_reduce",
    "heads",
    "head-reduce",
    model.get("reductions"),
    signal,
  );
  const colormap = traitMenu(
    model,
    "colormap",
    "colours",
    "colormap",
    model.get("colormaps"),
    signal,
  );

  const range = element("input", "");
  range.type = "range";
  range.min = "0";
  range.max = "1";
  range.step = "0.05";
  range.dataset.testid = "opacity";
  const opacity = traitInput(
    model,
    "opacity",
    "opacity",
    range,
    {
      event: "input",
      read: (input) => Number(input.value),
      write: (input, value) => (input.value = String(value)),
    },
    signal,
  );
  const checkbox = element("input", "");
  checkbox.type = "checkbox";
  checkbox.dataset.testid = "smooth";
  const smooth = traitInput(
    model,
    "smooth",
    "smooth",
    checkbox,
    {
      event: "change",
      read: (input) => input.checked,
      write: (input, value) => (input.checked = value),
    },
    signal,
  );

  const save = button("Save PNG", "save-png");
  save.addEventListener("click", () => handlers.save(), { signal });
  let computing = false;
  const computeAll = button("Compute all tokens", "compute-all");
  computeAll.addEventListener(
    "click",
    () => {
      computing = true;
      model.send({ type: "compute_all" });
      handlers.computeAll();
    },
    { signal },
  );
  const progressBar = element("progress", "vlsw-progress");
  progressBar.hidden = true;
  const busy = element("span", "vlsw-busy", "computing…");
  busy.dataset.testid = "busy";
  const mapGroup = group("map", "map-controls");
  mapGroup.append(method.root, layerReduce.root, headReduce.root);
  const lookGroup = group("look", "look-controls");
  lookGroup.append(colormap.root, opacity.root, smooth.root);
  const tools = group("tools", "tools");
  tools.append(save, computeAll, progressBar, busy);
  root.append(mapGroup, lookGroup, tools);
  // Without a kernel nothing can aggregate the maps another way: the page holds them aggregated as they were.
  for (const input of [layerReduce.input, headReduce.input]) {
    input.disabled = !live;
    if (!live)
      input.title =
        "fixed in this page: it holds the maps aggregated as they were when it was saved";
  }

  const bound = [layerReduce, headReduce, colormap, opacity, smooth];
  let headNames: string | null = null;
  return {
    element: root,
    addTools(...nodes) {
      tools.firstElementChild?.after(...nodes);
    },
    sync() {
      method.setOptions(model.get("methods"));
      method.input.value = model.get("mode");
      for (const control of bound) control.sync();
      showChosen(layerReduce.input, headNames && "selected heads");
      showChosen(headReduce.input, headNames && `selected: ${headNames}`);
    },
    showHeads(names) {
      if (names === headNames) return;
      headNames = names;
      this.sync();
    },
    showComputeAll(needed) {
      computeAll.hidden = !live || !needed;
    },
    progress(done, total) {
      computing = done < total;
      progressBar.hidden = !computing;
      progressBar.max = total;
      progressBar.value = done;
    },
    get computing() {
      return computing;
    },
    setBusy(isBusy) {
      busy.hidden = !isBusy;
    },
  };
}
