"""The quick start as a marimo notebook: ``marimo edit notebooks/quickstart_marimo.py`` (or ``marimo run``).

The toy model that ships with the package answers "What color is the shape?" about a held-out picture, offline, and
the widget shows where it looked; in marimo it goes through ``mo.ui.anywidget``. ``marimo export html`` writes the
page with the widget's state, so the exported map shows without a kernel (marimo's own page scripts come from its
CDN, so opening the export needs that network access).
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App()


@app.cell
def _():
    import marimo as mo
    import torch
    import transformers

    from vl_saliency_widget import SaliencyExtractor, SaliencyWidget
    from vl_saliency_widget.demo import load_toy_vlm, toy_samples
    from vl_saliency_widget.demo.parts import chat_inputs

    torch.set_num_threads(1)  # the toy model is too small to gain from more threads
    transformers.logging.disable_progress_bar()  # no loading bar for a 2 MB model
    return SaliencyExtractor, SaliencyWidget, chat_inputs, load_toy_vlm, mo, toy_samples, torch


@app.cell
def _(SaliencyExtractor, chat_inputs, load_toy_vlm, toy_samples, torch):
    model, processor = load_toy_vlm()
    sample = toy_samples(1)[0]  # a held-out picture, its question, answer and the box of the coloured shape
    inputs = chat_inputs(processor, sample.messages)
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    trace = SaliencyExtractor(model, processor).capture(**inputs, generated_ids=generated, images=[sample.image])
    return sample, trace


@app.cell
def _(SaliencyWidget, mo, sample, trace):
    widget = mo.ui.anywidget(SaliencyWidget(trace))
    mo.vstack([mo.md(f"**{sample.question}** (expected: {sample.answer})"), widget])
    return


if __name__ == "__main__":
    app.run()
