// An in-page stand-in for an anywidget model, for the exported pages (standalone.ts, gallerystandalone.ts): the
// view runs over it unchanged, and the page plays the kernel.

type Listener = (...args: unknown[]) => void;

/** get/set/on/off over `state`, where save_changes only notifies listeners; what the view sends goes to the
 * handler given to `answer`, and `emit` delivers messages to the view as the widget manager would. `M` is the
 * model type the view expects (the traits `T` with anywidget's methods). */
export function localModel<T extends object, M>(
  state: T,
): {
  model: M;
  emit(content: unknown, buffers: DataView[]): void;
  answer(handler: (message: never) => void): void;
} {
  const values: T = { ...state };
  const listeners = new Map<string, Set<Listener>>();
  const changed = new Set<string>();
  let send: (message: never) => void = () => undefined;
  const model = {
    get: <K extends keyof T>(key: K) => values[key],
    set: <K extends keyof T>(key: K, value: T[K]) => {
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
      // a copy of each set: a listener may add or remove listeners
      for (const name of names)
        for (const callback of [...(listeners.get(`change:${name}`) ?? [])])
          callback();
    },
    send: (message: never) => send(message),
    widget_manager: {
      get_model: () =>
        Promise.reject(new Error("no widget manager in an exported page")),
    },
  };
  return {
    model: model as unknown as M,
    emit: (content, buffers) => {
      for (const callback of [...(listeners.get("msg:custom") ?? [])])
        callback(content, buffers);
    },
    answer: (handler) => {
      send = handler;
    },
  };
}
