import { describe, expect, it } from "vitest";
import type { ItemsMessage } from "./gallerymodel";
import { CardStore, mapKey } from "./gallerystore";

function answer(): [ItemsMessage, DataView[]] {
  const maps = new Float32Array([1, 2, 3, 4, 5, 6]);
  const pictures = new Uint8Array([137, 80, 78, 71, 9]);
  const text = { question: "q", answer: "a", error: "", status: "ok" };
  return [
    {
      type: "items",
      id: 3,
      method: "attn",
      token: "first",
      items: [
        {
          index: 10,
          id: "s10",
          ...text,
          map: [0, 1, 2],
          picture: [0, 4, 8, 6],
        },
        { index: 11, id: "s11", ...text, map: [2, 2, 2], picture: null },
        {
          index: 12,
          id: "s12",
          ...text,
          status: "failed",
          error: "OSError: x",
          map: null,
          picture: null,
        },
      ],
      maps: { buffer: 0, dtype: "float32", shape: [6] },
      pictures: { buffer: 1, dtype: "uint8", shape: [5] },
    },
    [new DataView(maps.buffer), new DataView(pictures.buffer)],
  ];
}

describe("CardStore", () => {
  it("keeps each card's text, map and picture from the two buffers", () => {
    const store = new CardStore();
    const [message, buffers] = answer();
    expect(store.take(message, buffers, [10])).toEqual([10, 11, 12]);
    expect(store.texts.get(12)?.error).toBe("OSError: x");
    const map = store.maps.get(mapKey(11, "attn", "first"));
    expect(map && [...map.values]).toEqual([3, 4, 5, 6]);
    expect([map?.rows, map?.cols]).toEqual([2, 2]);
    expect(store.maps.get(mapKey(12, "attn", "first"))).toBeNull();
    const picture = store.pictures.get(10);
    expect(picture && [...picture.png]).toEqual([137, 80, 78, 71]);
    expect([picture?.width, picture?.height]).toEqual([8, 6]);
  });

  it("asks only for what it lacks: maps of another method, pictures it has not got", () => {
    const store = new CardStore();
    const [message, buffers] = answer();
    store.take(message, buffers, [10]);
    expect(store.missing([10, 12], "attn", "first")).toEqual({
      indices: [],
      pictures: [],
    });
    // 11's picture was never asked for; 12 failed and has none to ask for
    expect(store.missing([10, 11, 12, 13], "attn", "first")).toEqual({
      indices: [11, 13],
      pictures: [11, 13],
    });
    expect(store.missing([10, 12], "gradcam", "mean")).toEqual({
      indices: [10, 12],
      pictures: [],
    });
  });

  it("does not ask again for a picture that was asked for and did not come", () => {
    const store = new CardStore();
    const [message, buffers] = answer();
    store.take(message, buffers, [10, 11]);
    expect(store.missing([11], "attn", "first").indices).toEqual([]);
  });

  it("numbers requests 1, 2, 3, …", () => {
    const store = new CardStore();
    expect([store.nextId(), store.nextId()]).toEqual([1, 2]);
  });
});
