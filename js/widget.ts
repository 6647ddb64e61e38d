// anywidget entry point: the JupyterLab view, backed by the kernel.
import type { Render } from "@anywidget/types";
import type { Traits } from "./model";
import { mountView } from "./view";

const render: Render<Traits> = ({ model, el }) =>
  mountView(model, el, { live: true });

export default { render };
