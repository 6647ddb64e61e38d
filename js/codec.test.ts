import { describe, expect, it } from "vitest";
import {
  base64ToDataView,
  decode,
  decodeFloat32,
  reviveBuffers,
} from "./codec";

function viewOf(
  array: Float32Array | Int32Array | Uint8Array,
  offset = 0,
): DataView {
  const bytes = new Uint8Array(offset + array.byteLength);
  bytes.set(
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength),
    offset,
  );
  return new DataView(bytes.buffer, offset, array.byteLength);
}

describe("codec", () => {
  it("wraps float32 bytes without copying and keeps the shape", () => {
    const data = viewOf(new Float32Array([1.5, -2, 3, 4, 5, 6]));
    const array = decodeFloat32({ data, dtype: "float32", shape: [2, 3] });
    expect(array.shape).toEqual([2, 3]);
    expect(Array.from(array.data)).toEqual([1.5, -2, 3, 4, 5, 6]);
    expect(array.data.buffer).toBe(data.buffer);
  });

  it("copies bytes that start at an offset the element type cannot be aligned to", () => {
    const data = viewOf(new Int32Array([7, -8]), 1);
    expect(
      Array.from(decode({ data, dtype: "int32", shape: [2] }).data),
    ).toEqual([7, -8]);
  });

  it("refuses bytes that do not match the shape", () => {
    const data = viewOf(new Float32Array([1, 2, 3]));
    expect(() => decode({ data, dtype: "float32", shape: [2, 2] })).toThrow(
      /needs 16 bytes, got 12/,
    );
  });

  it("refuses a map that is not float32", () => {
    const data = viewOf(new Uint8Array([1, 2]));
    expect(() => decodeFloat32({ data, dtype: "uint8", shape: [2] })).toThrow(
      /expected float32/,
    );
  });

  it("revives base64 buffers anywhere in an exported state", () => {
    const state = reviveBuffers({
      a: [{ $base64: "AP8=" }],
      b: { c: 1 },
      d: "text",
    }) as {
      a: DataView[];
      b: { c: number };
      d: string;
    };
    expect(Array.from(new Uint8Array(state.a[0].buffer))).toEqual([0, 255]);
    expect(state.b).toEqual({ c: 1 });
    expect(state.d).toBe("text");
    expect(base64ToDataView("").byteLength).toBe(0);
  });
});
