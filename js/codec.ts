// Typed arrays from the wire format {data, dtype, shape} (vl_saliency_widget/widget/serialize.py).
import type { ArraySpec } from "./model";

export type TypedArray = Float32Array | Int32Array | Uint8Array;

export interface NDArray<T extends TypedArray = TypedArray> {
  data: T;
  shape: number[];
}

const CONSTRUCTORS = {
  float32: Float32Array,
  int32: Int32Array,
  uint8: Uint8Array,
} as const;

/** Wrap the bytes of `spec` in a typed array of its dtype (copying only when they are misaligned). */
export function decode(spec: ArraySpec): NDArray {
  const Type = CONSTRUCTORS[spec.dtype];
  if (Type === undefined) throw new Error(`unsupported dtype ${spec.dtype}`);
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const view = spec.data;
  if (view.byteLength !== size * Type.BYTES_PER_ELEMENT) {
    throw new Error(
      `array of shape [${spec.shape}] ${spec.dtype} needs ${size * Type.BYTES_PER_ELEMENT} bytes, got ${view.byteLength}`,
    );
  }
  const aligned = view.byteOffset % Type.BYTES_PER_ELEMENT === 0;
  const buffer = aligned
    ? view.buffer
    : view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength);
  const offset = aligned ? view.byteOffset : 0;
  return {
    data: new Type(buffer as ArrayBuffer, offset, size),
    shape: spec.shape,
  };
}

export function decodeFloat32(spec: ArraySpec): NDArray<Float32Array> {
  if (spec.dtype !== "float32")
    throw new Error(`expected float32, got ${spec.dtype}`);
  return decode(spec) as NDArray<Float32Array>;
}

/** Bytes from base64 text, as a DataView (the offline HTML export's encoding). */
export function base64ToDataView(text: string): DataView {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new DataView(bytes.buffer);
}

/** Replace every {"$base64": text} in a JSON state by the DataView of its bytes. */
export function reviveBuffers(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reviveBuffers);
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (
      typeof record.$base64 === "string" &&
      Object.keys(record).length === 1
    ) {
      return base64ToDataView(record.$base64);
    }
    return Object.fromEntries(
      Object.entries(record).map(([k, v]) => [k, reviveBuffers(v)]),
    );
  }
  return value;
}
