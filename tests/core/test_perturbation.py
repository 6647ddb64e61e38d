"""What the answer relies on: occlusion, RISE, reliance and the image share, each against an independent
computation (the picture changed by hand, the public processor call, a plain forward pass, eager attention)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from tests.cases import Case, make_case
from tests.core.test_model_state import assert_same, snapshot
from vl_saliency_widget import SaliencyExtractor, Trace, lib
from vl_saliency_widget.core.inputs import teacher_forced_inputs
from vl_saliency_widget.core.perturb import RiseMasks, cell_masks, cell_means
from vl_saliency_widget.selectors import AbsoluteIndex
from vl_saliency_widget.testing import ARCHITECTURES, tiny_inputs

# The oracle's pass runs one picture where the method batches several: the same float32 arithmetic summed in
# another order, a few ulps of logits of size ~1 that grow through log_softmax; 1e-4 nats is ~1000 ulps.
LOG_PROB = {"rtol": 0.0, "atol": 1e-4}
SMALL_RISE = lib.Rise(n_masks=12, grid=3, seed=1, batch_size=4)


def _capture(case: Case) -> Trace:
    return SaliencyExtractor(case.model, case.processor).capture(
        **case.inputs, generated_ids=case.generated, images=[case.image]
    )


def _oracle_log_probs(case: Case, picture: Image.Image) -> torch.Tensor:
    """[T]: log p(token | tokens before it) with ``picture`` in the prompt, through the processor's public call
    and one plain teacher-forced forward pass (NaN at position 0)."""
    inputs = dict(tiny_inputs(case.name, case.processor, images=[picture]))
    prompt = inputs["input_ids"]
    assert torch.equal(prompt, case.inputs["input_ids"]), "the same prompt, only the picture changed"
    forward = teacher_forced_inputs(case.model, case.generated, prompt.shape[1], inputs)
    with torch.no_grad():
        logits = case.model.eval()(**forward).logits[0].float()
    log_probs = torch.log_softmax(logits[:-1], -1).gather(1, case.generated[0, 1:, None])[:, 0]
    return torch.cat([torch.tensor([float("nan")]), log_probs])


def _blurred(picture: Image.Image) -> Image.Image:
    """The occlusion baseline as its docs define it: a Gaussian blur whose radius is an eighth of the shorter side."""
    return picture.convert("RGB").filter(ImageFilter.GaussianBlur(radius=max(1.0, min(picture.size) / 8)))


def _hide(picture: Image.Image, hidden: np.ndarray) -> Image.Image:
    """``picture`` with the pixels where ``hidden`` [height, width] is True taken from its blurred copy."""
    out = np.asarray(picture.convert("RGB")).copy()
    out[hidden] = np.asarray(_blurred(picture))[hidden]
    return Image.fromarray(out)


def test_cell_masks_cut_the_picture_into_its_grid_row_major() -> None:
    masks = cell_masks(2, 3, (30, 20))
    assert masks.shape == (6, 20, 30)
    assert torch.equal((1 - masks).sum(0), torch.ones(20, 30)), "every pixel lies in exactly one cell"
    expected = torch.ones(20, 30)
    expected[10:20, 10:20] = 0  # row 1, col 1: pixels x 10..19, y 10..19
    assert torch.equal(masks[4], expected)
    assert torch.equal(cell_means(masks, 2, 3)[4], (torch.arange(6) != 4).float().reshape(2, 3))


def test_rise_masks_are_smooth_reproducible_and_keep_about_the_asked_share() -> None:
    masks = RiseMasks(200, (40, 30), grid=4, keep=0.5, seed=3)
    drawn = masks.masks(0, 200)
    assert drawn.shape == (200, 30, 40) and float(drawn.min()) >= 0 and float(drawn.max()) <= 1
    assert torch.equal(RiseMasks(200, (40, 30), grid=4, keep=0.5, seed=3).masks(10, 20), drawn[10:20])
    assert abs(float(drawn.mean()) - 0.5) < 0.05, "200 masks of 16 cells: the kept share is 0.5 within ~0.03"
    assert ((drawn > 0.01) & (drawn < 0.99)).float().mean() > 0.2, "bilinear upsampling: soft edges"


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_an_occlusion_cell_is_the_log_probability_drop_of_a_pass_with_that_cell_hidden(name: str) -> None:
    """On every architecture; RISE runs on each too, on the same grid."""
    case = make_case(name, new_tokens=2)
    trace = _capture(case)
    try:
        occlusion = trace.map(0, lib.occlusion).tensor()[0, 0]
    except ValueError as error:
        pytest.fail(f"{name}: {error}")
    rows, cols = occlusion.shape
    assert (rows, cols) == trace.map(0, "attn").shape[2:], "the whole-picture grid of the attention maps"
    rise = trace.map(0, SMALL_RISE).tensor()[0, 0]  # its values against an oracle: test_rise_is_the_mask_weighted...
    assert rise.shape == (rows, cols) and bool(torch.isfinite(rise).all()) and float(rise.min()) >= 0
    base = _oracle_log_probs(case, case.image)
    width, height = case.image.size
    masks = cell_masks(rows, cols, (width, height))
    answer = trace.gen_start
    for cell in {0, rows * cols // 2 + cols // 2, rows * cols - 1}:
        hidden = _oracle_log_probs(case, _hide(case.image, (masks[cell] == 0).numpy()))
        expected = base[answer] - hidden[answer]
        torch.testing.assert_close(occlusion.reshape(-1)[cell], expected, **LOG_PROB)


def test_occlusion_and_rise_are_computed_once_for_every_token_and_leave_the_model_as_it_was() -> None:
    case = make_case("gemma3", new_tokens=3)
    trace = _capture(case)
    before = snapshot(case.model)
    calls = []
    forward = case.model.forward

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["input_ids"].shape[0])
        return forward(*args, **kwargs)

    case.model.forward = counted
    try:
        first = trace.map(0, lib.Occlusion(batch_size=5))
        passes = len(calls)
        cells = first.shape[2] * first.shape[3]
        assert passes == 1 + -(-cells // 5), "one pass for the picture, then cells / batch_size"
        assert max(calls) == 5
        for token in range(1, trace.total_generated_tokens):
            trace.map(token, lib.Occlusion(batch_size=5))
        trace.map(0, lib.Occlusion(batch_size=2))  # the batch size does not change the maps: no new pass
        assert len(calls) == passes
        trace.map(0, SMALL_RISE)
        assert len(calls) == passes + 3
        trace.map(2, SMALL_RISE)
        assert len(calls) == passes + 3
    finally:
        del case.model.forward
    assert_same(before, snapshot(case.model))


def test_rise_is_the_mask_weighted_mean_of_the_token_s_probability() -> None:
    case = make_case("llava", new_tokens=2)
    trace = _capture(case)
    rise = trace.map(0, SMALL_RISE).tensor()[0, 0]
    rows, cols = rise.shape
    masks = RiseMasks(12, case.image.size, grid=3, keep=0.5, seed=1).masks(0, 12)
    answer = trace.gen_start
    blurred = np.asarray(_blurred(case.image), dtype=np.float32)
    original = np.asarray(case.image.convert("RGB"), dtype=np.float32)
    expected = torch.zeros(rows, cols)
    for mask in masks:
        weight = mask.numpy()[..., None]
        mixed = Image.fromarray(np.clip(np.rint(original * weight + blurred * (1 - weight)), 0, 255).astype(np.uint8))
        probability = _oracle_log_probs(case, mixed)[answer].exp()
        expected += probability * torch.nn.functional.adaptive_avg_pool2d(mask[None, None], (rows, cols))[0, 0]
    torch.testing.assert_close(rise, expected / (12 * 0.5), rtol=1e-4, atol=1e-6)


def test_reliance_is_the_log_probability_lost_when_every_picture_is_blurred() -> None:
    case = make_case("qwen2_vl", new_tokens=3)
    trace = _capture(case)
    reliance = trace.reliance()
    with_image, without = _oracle_log_probs(case, case.image), _oracle_log_probs(case, _blurred(case.image))
    answer = slice(trace.gen_start, None)
    torch.testing.assert_close(reliance.with_image[answer], with_image[answer], **LOG_PROB)
    torch.testing.assert_close(reliance.delta[answer], (with_image - without)[answer], **LOG_PROB)
    assert torch.isnan(reliance.delta[: trace.gen_start]).all(), "the prompt is not scored"
    assert reliance.from_image.tolist() == (reliance.delta > reliance.threshold).tolist()
    # exact: the second call reads the table the first one kept
    torch.testing.assert_close(trace.reliance().delta, reliance.delta, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("name", ["gemma3", "llava_next", "idefics3"])
def test_the_image_share_is_the_attention_row_s_mass_on_the_image_tokens(name: str) -> None:
    case = make_case(name, new_tokens=2)
    trace = _capture(case)
    eager = case.eager_copy()
    with torch.no_grad():
        forward = teacher_forced_inputs(eager, case.generated, case.inputs["input_ids"].shape[1], case.inputs)
        attentions = eager(**forward, output_attentions=True).attentions
    image = torch.tensor(trace.image_mask)
    for token in range(trace.total_generated_tokens):
        query = trace.gen_start + token - 1  # align="predicting": the row of the position before the token
        expected = torch.stack([a[0, :, query, image].sum(-1) for a in attentions]).float()
        share = trace.image_share(token)
        torch.testing.assert_close(share, expected, rtol=1e-4, atol=1e-6)  # capture vs eager: float32 rounding
        assert bool(((share >= 0) & (share <= 1 + 1e-5)).all())


def test_a_saved_trace_serves_its_tables_and_runs_the_rest_once_a_model_is_attached(tmp_path: Path) -> None:
    case = make_case("gemma3", new_tokens=2)
    trace = _capture(case)
    occlusion = trace.map(0, lib.occlusion).tensor()
    reliance = trace.reliance().delta
    trace.save(tmp_path / "t.safetensors")
    loaded = Trace.load(tmp_path / "t.safetensors")
    assert torch.equal(loaded.map(0, lib.occlusion).tensor(), occlusion)  # exact: read back from the file
    # exact: read back from the file
    torch.testing.assert_close(loaded.reliance().delta, reliance, rtol=0, atol=0, equal_nan=True)
    assert loaded.ready(lib.occlusion, trace.gen_start) and not loaded.ready(SMALL_RISE, trace.gen_start)
    with pytest.raises(ValueError, match=r"trace.attach\(model, processor\)"):
        loaded.map(0, SMALL_RISE)
    attached = Trace.load(tmp_path / "t.safetensors", model=case.model, processor=case.processor)
    fresh = _capture(case).map(0, SMALL_RISE).tensor()
    # the same passes on the same inputs; the loaded trace's inputs went through the file bit for bit
    torch.testing.assert_close(attached.map(0, SMALL_RISE).tensor(), fresh, rtol=1e-5, atol=1e-7)
    loaded.attach(case.model, case.processor)
    assert loaded.map(0, SMALL_RISE).shape == fresh.shape


def test_perturbation_errors_say_what_to_do() -> None:
    case = make_case("llava", new_tokens=2)
    trace = _capture(case)
    with pytest.raises(ValueError, match=r"without view="):
        trace.map(0, lib.occlusion, view="base")
    with pytest.raises(ValueError, match=r"Unknown baseline 'zeros'"):
        lib.Occlusion(baseline="zeros")
    with pytest.raises(ValueError, match=r"batch_size must be at least 1"):
        lib.Rise(batch_size=0)
    with pytest.raises(ValueError, match=r"scores the answer's tokens"):
        trace.map(AbsoluteIndex(2), lib.occlusion)
    other = tiny_inputs("llava", case.processor, images=[case.image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])
    flipped = SaliencyExtractor(case.model, case.processor).capture(**other, images=[case.image])
    with pytest.raises(ValueError, match=r"does not give the capture's \['pixel_values'\]"):
        flipped.reliance()
