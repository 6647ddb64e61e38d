"""Captures written the way notebooks write them: inside ``torch.no_grad()``, from a ``GenerateOutput``, with a size
limit whose message shows readable numbers."""

from __future__ import annotations

import pytest
import torch
from transformers.generation.utils import GenerateDecoderOnlyOutput

from tests.cases import Case, make_case
from vl_saliency_widget import SaliencyExtractor, Trace
from vl_saliency_widget.core.extractor import readable_bytes
from vl_saliency_widget.selectors import AbsoluteIndex

# The same capture with and without the caller's no_grad: autograd is on inside the capture either way, so the
# same kernels run on the same inputs; 1e-6 leaves room only for a kernel choice that depends on grad mode.
SAME_RUN = {"rtol": 1e-6, "atol": 1e-9}


@pytest.fixture(scope="module", params=["gemma3", "qwen2_vl", "mllama"])
def case(request: pytest.FixtureRequest) -> Case:
    return make_case(request.param, new_tokens=3)


def _capture(case: Case, **options: object) -> Trace:
    extractor = SaliencyExtractor(case.model, case.processor, **options)  # type: ignore[arg-type]
    return extractor.capture(**case.inputs, generated_ids=case.generated, images=[case.image])


@pytest.mark.parametrize("gradients", ["token", "sequence"])
def test_a_capture_inside_no_grad_gives_the_maps_of_one_outside(case: Case, gradients: str) -> None:
    outside = _capture(case, gradients=gradients)
    with torch.no_grad():
        inside = _capture(case, gradients=gradients)
        # Per-token gradients are computed lazily: still inside the caller's no_grad block.
        inside_maps = {mode: inside.maps(inside.text_positions, mode) for mode in ("attn", "grad")}
    for mode, maps in inside_maps.items():
        expected = outside.maps(outside.text_positions, mode)
        assert maps.abs().sum() > 0, mode
        torch.testing.assert_close(maps, expected, **SAME_RUN)


def test_a_map_asked_for_inside_no_grad_computes_its_gradient(case: Case) -> None:
    trace = _capture(case)
    last = trace.text_positions[-1]
    with torch.no_grad():
        inside = trace.map(AbsoluteIndex(last), "grad").tensor()
    fresh = _capture(case)
    torch.testing.assert_close(inside, fresh.map(AbsoluteIndex(last), "grad").tensor(), **SAME_RUN)


def test_a_gradient_asked_for_inside_inference_mode_says_how_to_get_it() -> None:
    case = make_case("gemma3", new_tokens=2)
    trace = _capture(case)
    with torch.inference_mode(), pytest.raises(RuntimeError, match=r"outside the inference_mode block"):
        trace.map(0, "grad")


def test_generate_output_is_taken_as_its_sequences() -> None:
    case = make_case("gemma3", new_tokens=3)
    with torch.no_grad():
        output = case.model.generate(
            **case.inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False, return_dict_in_generate=True
        )
    assert isinstance(output, GenerateDecoderOnlyOutput)
    extractor = SaliencyExtractor(case.model, case.processor)
    trace = extractor.capture(**case.inputs, generated_ids=output, images=[case.image])
    assert trace.token_ids == output.sequences[0].tolist()
    assert trace.total_generated_tokens == 3
    assert extractor.estimate_trace_bytes(output, **case.inputs) == extractor.estimate_trace_bytes(
        output.sequences, **case.inputs
    )


def test_sizes_are_printed_in_the_unit_that_shows_them() -> None:
    assert readable_bytes(1000) == "1000 B"
    assert readable_bytes(1536) == "1.5 KiB"
    assert readable_bytes(3 * 2**20) == "3.0 MiB"
    assert readable_bytes(5.25 * 2**30) == "5.2 GiB"
    assert readable_bytes(2**42) == "4.0 TiB"


def test_the_size_limit_message_shows_both_sizes_readably() -> None:
    case = make_case("gemma3", new_tokens=2)
    extractor = SaliencyExtractor(case.model, case.processor, max_trace_bytes=1000)
    size = SaliencyExtractor(case.model, case.processor).estimate_trace_bytes(case.generated, **case.inputs)
    assert 1024 <= size < 2**20, "the tiny gemma3 trace is some KiB: the message must not round it to 0.0 MiB"
    expected = rf"would keep {readable_bytes(size)}, over max_trace_bytes=1000 \(1000 B\)"
    with pytest.raises(MemoryError, match=expected):
        extractor.capture(**case.inputs, generated_ids=case.generated)


def test_video_llava_s_legacy_name_for_the_pixels_is_taken() -> None:
    case = make_case("video_llava", new_tokens=2)
    legacy = {("pixel_values_images" if k == "pixel_values" else k): v for k, v in case.inputs.items()}
    trace = SaliencyExtractor(case.model, case.processor).capture(
        **legacy, generated_ids=case.generated, images=[case.image]
    )
    expected = _capture(case)
    # exact: the same capture of the same tensors under another name
    assert torch.equal(trace.maps(trace.text_positions, "attn"), expected.maps(expected.text_positions, "attn"))
