"""Models spread by accelerate with offloaded layers, and prompts with several images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.cases import make_case
from vl_saliency_widget import SaliencyExtractor
from vl_saliency_widget.testing import ARCHITECTURES, tiny_image, tiny_inputs, tiny_vlm

accelerate = pytest.importorskip("accelerate")


def test_capture_through_accelerate_offload_hooks(tmp_path: Path) -> None:
    """Every other decoder layer offloaded to disk: maps equal those of the same model kept in memory."""
    case = make_case("llava", new_tokens=3)
    expected = SaliencyExtractor(case.model, case.processor).capture(**case.inputs, generated_ids=case.generated)

    layers = case.model.model.language_model.layers
    device_map = {name: "cpu" for name, _ in case.model.named_children() if name != "model"}
    device_map |= {f"model.{name}": "cpu" for name, _ in case.model.model.named_children() if name != "language_model"}
    for name, _ in case.model.model.language_model.named_children():
        if name != "layers":
            device_map[f"model.language_model.{name}"] = "cpu"
    for i in range(len(layers)):
        device_map[f"model.language_model.layers.{i}"] = "disk" if i % 2 else "cpu"
    model = accelerate.dispatch_model(case.model, device_map=device_map, offload_dir=str(tmp_path))
    assert next(model.model.language_model.layers[1].parameters()).device.type == "meta"

    trace = SaliencyExtractor(model, case.processor).capture(**case.inputs, generated_ids=case.generated)
    for t in range(trace.total_generated_tokens):
        for mode in ("attn", "grad"):
            torch.testing.assert_close(trace.map(t, mode).tensor(), expected.map(t, mode).tensor())
    assert trace.map(2, "grad").tensor().abs().max() > 0


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_two_images_map_to_their_own_tokens(name: str) -> None:
    model, processor = tiny_vlm(name)
    first, second = tiny_image(seed=1, size=(84, 56)), tiny_image(seed=2, size=(40, 120))
    inputs = tiny_inputs(name, processor, images=[first, second])
    trace = SaliencyExtractor(model, processor).capture(**inputs, images=[first, second])
    assert trace.total_images == 2
    assert trace.images == [first, second]
    first_cells = trace.image_layouts[0].positions
    second_cells = trace.image_layouts[1].positions
    assert first_cells.max() < second_cells.min()
    assert [layout.size for layout in trace.image_layouts] == [first.size, second.size]
    # Attention of the last token to each image's cells, read straight from the stored columns.
    assert trace.attn is not None
    cols = trace.columns.tolist()
    last_row = trace.attn[:, :, -1]
    for layout, image_index in ((trace.image_layouts[0], 0), (trace.image_layouts[1], 1)):
        index = torch.tensor([cols.index(p) for p in layout.view().positions.flatten().tolist()])
        expected = last_row[:, :, index].reshape(*last_row.shape[:2], *layout.view().grid)
        main = layout.views[0].name
        got = trace.map(trace.total_generated_tokens - 1, image_index=image_index, align="token", view=main).tensor()
        torch.testing.assert_close(got, expected)
