// anywidget entry point of the gallery: the JupyterLab view, backed by the kernel; anywidget's host renders the
// open sample's SaliencyWidget inside it.
import type { Render } from "@anywidget/types";
import type { GalleryTraits } from "./gallerymodel";
import { mountGallery } from "./galleryview";

const render: Render<GalleryTraits> = ({ model, el, host }) =>
  mountGallery(model, el, { live: true, host });

export default { render };
