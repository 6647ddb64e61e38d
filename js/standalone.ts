// The offline HTML export: the same view over a model that lives in the page, with no kernel behind it.
import { reviveBuffers } from "./codec";
import type { Model, Traits } from "./model";
import { mountView } from "./view";

type Listener = (...args: unknown[]) => void;

/** An in-page stand-in for the widget model: get/set/on/off, where save_changes only notifies listeners. */
export function localModel(state: Traits): Model {
  const values: Traits = { ...state };
  const listeners = new Map<string, Set<Listener>>();
  const changed = new Set<string>();
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
    send: () => undefined,
    widget_manager: {
      get_model: () =>
        Promise.reject(new Error("no widget manager in an exported page")),
    },
  };
  return model as unknown as Model;
}

/** Mount the exported widget into `el` from its JSON state (buffers as {"$base64": ...}). */
export function mount(el: HTMLElement, state: unknown): () => void {
  return mountView(localModel(reviveBuffers(state) as Traits), el, {
    kernel: false,
  });
}
