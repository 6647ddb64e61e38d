// The offline HTML export: the same view over a model that lives in the page, answered by the page's own kernel
// (offline.ts) from the maps the export holds.
import { reviveBuffers } from "./codec";
import type { Model, Traits } from "./model";
import { offlineKernel, type StaticData } from "./offline";
import { mountView } from "./view";

type Listener = (...args: unknown[]) => void;

/** An in-page stand-in for the widget model: get/set/on/off, where save_changes only notifies listeners; what the
 * view sends goes to `send`, and `emit` delivers messages to the view as the widget manager would. */
export function localModel(state: Traits): {
  model: Model;
  emit(content: Record<string, unknown>, buffers: DataView[]): void;
  answer(send: (message: never) => void): void;
} {
  const values: Traits = { ...state };
  const listeners = new Map<string, Set<Listener>>();
  const changed = new Set<string>();
  let send: (message: never) => void = () => undefined;
  const model = {
    get: <K extends keyof Traits>(key: K) => values[key],
    set: <K extends keyof Traits>(key: K, value: Traits[K]) => {
      if (values[key] === value) return;
      values[key] = value;
      changed.add(key as string);
    },
    on: (name: string, callback: Listener) => {
      if (!listeners.has(name)) listeners.set(name, new Set());
      listeners.get(name)?.add(callback);
    },
    off: (name?: string | null, callback?: Listener | null) => {
      if (!name) listeners.clear();
      else if (!callback) listeners.delete(name);
      else listeners.get(name)?.delete(callback);
    },
    save_changes: () => {
      const names = [...changed];
      changed.clear();
      for (const name of names)
        for (const callback of listeners.get(`change:${name}`) ?? [])
          callback();
    },
    send: (message: never) => send(message),
    widget_manager: {
      get_model: () =>
        Promise.reject(new Error("no widget manager in an exported page")),
    },
  };
  return {
    model: model as unknown as Model,
    emit: (content, buffers) => {
      for (const callback of listeners.get("msg:custom") ?? [])
        callback(content, buffers);
    },
    answer: (handler) => {
      send = handler;
    },
  };
}

/** Mount the exported widget into `el` from its JSON state (buffers as {"$base64": ...}); the state's `static`
 * part holds the maps the page's kernel answers from. */
export function mount(el: HTMLElement, state: unknown): () => void {
  const { static: held, ...traits } = reviveBuffers(state) as Traits & {
    static?: StaticData;
  };
  const local = localModel(traits as Traits);
  if (held) local.answer(offlineKernel(local.model, held, local.emit));
  return mountView(local.model, el, { live: false, heading: held?.heading });
}
