// Compare mode: the selected token's map minus a second token's (`lib.difference`, computed by the kernel), on a
// diverging scale centred on 0. The second token is picked with shift-click or the "compare with…" button.
import { decodeFloat32 } from "./codec";
import type { Grid } from "./heatmap";
import type { Model } from "./model";

/** The difference the kernel sent, when it belongs to what the view shows now (`token` selected). */
export function comparisonGrid(model: Model, token: number): Grid | null {
  const state = model.get("comparison");
  if (
    !("values" in state) ||
    state.token !== token ||
    state.compare_token !== model.get("compare_token") ||
    state.mode !== model.get("mode") ||
    state.image_index !== model.get("image_index")
  )
    return null;
  const values = decodeFloat32(state.values);
  return { values: values.data, h: values.shape[0], w: values.shape[1] };
}

export interface CompareControls {
  /** The "compare with…" / "stop comparing" button, for the toolbar. */
  button: HTMLButtonElement;
  /** Says which token is which sign; under the colour bar. */
  legend: HTMLElement;
  /** Show the button's state (`comparing`: a token to compare with is set) and the legend for tokens `a`
   * (selected) and `b` (compared with) while their difference is on screen, or none. */
  show(comparing: boolean, labels: { a: string; b: string } | null): void;
}

/**
 * Shift-click on a token of `strip`, or a click after "compare with…", picks the token to compare with
 * (`pick(position)`); `stop()` leaves compare mode. Listeners are removed when `signal` aborts.
 */
export function createCompareControls(
  strip: HTMLElement,
  handlers: { pick(position: number): void; stop(): void },
  signal: AbortSignal,
): CompareControls {
  let armed = false;
  let comparing = false;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "vlsw-button";
  button.dataset.testid = "compare";
  const legend = document.createElement("div");
  legend.className = "vlsw-compare-legend";
  legend.dataset.testid = "compare-legend";
  legend.hidden = true;
  const label = () => {
    const text = comparing
      ? "stop comparing"
      : armed
        ? "click a token to compare with…"
        : "compare with…";
    // Written only when it changes: every hover redraws the view.
    if (button.textContent !== text) button.textContent = text;
    button.classList.toggle("armed", armed);
  };
  button.addEventListener(
    "click",
    () => {
      if (comparing) handlers.stop();
      else armed = !armed;
      label();
    },
    { signal },
  );
  // Capture phase: the strip's own click handler (select) never sees a compare pick.
  strip.addEventListener(
    "click",
    (event) => {
      const token = (event.target as HTMLElement).closest<HTMLElement>(
        '[data-testid="token"].mappable',
      );
      if (!token || !(event.shiftKey || armed)) return;
      event.stopPropagation();
      event.preventDefault();
      armed = false;
      label();
      handlers.pick(Number(token.dataset.index));
    },
    { signal, capture: true },
  );
  label();
  return {
    button,
    legend,
    show(isComparing, labels) {
      comparing = isComparing;
      label();
      legend.hidden = labels === null;
      const key = labels ? `${labels.a}\u0000${labels.b}` : "";
      if (!labels || legend.dataset.labels === key) return;
      legend.dataset.labels = key;
      const red = document.createElement("span");
      red.className = "vlsw-positive";
      red.textContent = `red: ${labels.a} puts more`;
      const blue = document.createElement("span");
      blue.className = "vlsw-negative";
      blue.textContent = `blue: ${labels.b} puts more`;
      legend.replaceChildren(red, " · ", blue);
    },
  };
}
