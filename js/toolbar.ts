// The toolbar and the image tabs. Each control is bound to one trait, in the manner of lonboard: input on the
// control writes the trait, and `sync()` reads every trait back into its control (after a change from Python or
// from another view of the same widget).
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

/** A menu bound to the trait `name`. */
function traitMenu<K extends MenuTrait>(
  model: Model,
  name: K,
  label: string,
  testid: string,
  options: readonly Traits[K][],
  signal: AbortSignal,
): Control & { input: HTMLSelectElement } {
  const control = menu(label, testid, options, signal, (value) =>
    update(model, { [name]: value }),
  );
  return {
    ...control,
    sync: () => {
      control.input.value = model.get(name);
    },
  };
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
  /** Read every trait back into its control. */
  sync(): void;
  /** Show "Compute all tokens" only while some token's map is missing (and a kernel can compute it). */
  showComputeAll(needed: boolean): void;
  /** The kernel's progress on "compute all". */
  progress(done: number, total: number): void;
  /** True from a click on "Compute all tokens" until its last progress message. */
  readonly computing: boolean;
  setBusy(busy: boolean): void;
}

/** Method, layers and heads aggregation, colours, opacity, smoothing, Save PNG, Compute all, progress and busy. */
export function createToolbar(
  model: Model,
  kernel: boolean,
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
  root.append(
    method.root,
    layerReduce.root,
    headReduce.root,
    colormap.root,
    opacity.root,
    smooth.root,
    save,
    computeAll,
    progressBar,
    busy,
  );
  // Without a kernel nothing can recompute the previews, so the controls that need it are off.
  for (const input of [method.input, layerReduce.input, headReduce.input])
    input.disabled = !kernel;

  const bound = [layerReduce, headReduce, colormap, opacity, smooth];
  return {
    element: root,
    sync() {
      method.setOptions(model.get("methods"));
      method.input.value = model.get("mode");
      for (const control of bound) control.sync();
    },
    showComputeAll(needed) {
      computeAll.hidden = !kernel || !needed;
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
