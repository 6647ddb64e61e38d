// The offline HTML export: the same view over a model that lives in the page, answered by the page's own kernel
// (offline.ts) from the maps the export holds.
import { reviveBuffers } from "./codec";
import { localModel } from "./localmodel";
import type { Model, Traits } from "./model";
import { offlineKernel, type StaticData } from "./offline";
import { mountView } from "./view";

/** Mount the exported widget into `el` from its JSON state (buffers as {"$base64": ...}); the state's `static`
 * part holds the maps the page's kernel answers from. */
export function mount(el: HTMLElement, state: unknown): () => void {
  const { static: held, ...traits } = reviveBuffers(state) as Traits & {
    static?: StaticData;
  };
  const local = localModel<Traits, Model>(traits as Traits);
  if (held) local.answer(offlineKernel(local.model, held, local.emit));
  return mountView(local.model, el, { live: false, heading: held?.heading });
}
