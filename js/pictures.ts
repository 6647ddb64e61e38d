// The widget's pictures: the PNG bytes of the `images` trait, decoded into bitmaps once and closed on cleanup.
import type { Heatmap } from "./heatmap";
import type { Picture } from "./model";

export class Pictures {
  private bitmaps: (ImageBitmap | null)[] = [];

  constructor(private readonly images: Picture[]) {}

  /** Decode every picture; then `loaded()`, unless `signal` aborted meanwhile, or `failed(error)`. */
  load(
    signal: AbortSignal,
    loaded: () => void,
    failed: (error: unknown) => void,
  ): void {
    Promise.all(
      this.images.map((picture) =>
        createImageBitmap(
          new Blob([picture.png as unknown as BlobPart], { type: "image/png" }),
        ),
      ),
    ).then((bitmaps) => {
      if (signal.aborted) return;
      this.bitmaps = bitmaps;
      loaded();
    }, failed);
  }

  /** Put picture `index` under the heatmap at its size (the bitmap itself once it is decoded). */
  show(heatmap: Heatmap, index: number): void {
    const picture = this.images[index];
    if (picture)
      heatmap.setPicture(
        this.bitmaps[index] ?? null,
        picture.width,
        picture.height,
      );
  }

  close(): void {
    for (const bitmap of this.bitmaps) bitmap?.close();
  }
}
