// One tab per picture of the widget (hidden with a single picture), bound to the `image_index` trait.
import { element } from "./dom";
import type { Model } from "./model";

export interface ImageTabs {
  element: HTMLElement;
  /** Mark the tab of the shown image (`image_index`). */
  sync(): void;
}

/** One tab per picture (hidden with a single picture); a click asks `show(index)`. */
export function createImageTabs(
  model: Model,
  live: boolean,
  show: (index: number) => void,
  signal: AbortSignal,
): ImageTabs {
  const root = element("div", "vlsw-tabs");
  model.get("images").forEach((_, index) => {
    const tab = element("button", "vlsw-tab", `image ${index + 1}`);
    tab.type = "button";
    tab.dataset.testid = "image-tab";
    tab.dataset.image = String(index);
    tab.addEventListener("click", () => show(index), { signal });
    // Without a kernel nothing can compute another picture's maps.
    tab.disabled = !live;
    root.append(tab);
  });
  root.hidden = model.get("images").length < 2;
  return {
    element: root,
    sync() {
      for (const tab of root.querySelectorAll<HTMLElement>(".vlsw-tab")) {
        tab.classList.toggle(
          "selected",
          tab.dataset.image === String(model.get("image_index")),
        );
      }
    },
  };
}
