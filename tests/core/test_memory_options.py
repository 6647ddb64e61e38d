"""Memory you can plan for: subsets captured (not sliced afterwards), half-precision storage, a size limit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.cases import Case, make_case
from vl_saliency_widget import SaliencyExtractor, Trace, lib
from vl_saliency_widget.selectors import AbsoluteIndex

from .test_capture import eager_attentions, view_slice


@pytest.fixture(scope="module")
def gemma() -> Case:
    return make_case("gemma3", new_tokens=3)


def capture(case: Case, **options) -> object:  # type: ignore[no-untyped-def]
    return SaliencyExtractor(case.model, case.processor, **options).capture(
        **case.inputs, generated_ids=case.generated, images=[case.image]
    )


def test_layer_and_head_subsets_equal_the_slices_of_a_full_capture(gemma: Case) -> None:
    full = capture(gemma)
    part = capture(gemma, layers=[1], heads=[0, 2])
    assert part.attn.shape[:2] == (1, 2)  # type: ignore[attr-defined]
    torch.testing.assert_close(part.attn, full.attn[[1]][:, [0, 2]])  # type: ignore[attr-defined]
    last = full.text_positions[-1]  # type: ignore[attr-defined]
    # Gradients stay total derivatives: the probes left out are zero, so the kept entries do not change.
    expected = full.map(AbsoluteIndex(last), "grad").tensor()[[1]][:, [0, 2]]  # type: ignore[attr-defined]
    torch.testing.assert_close(part.map(AbsoluteIndex(last), "grad").tensor(), expected)  # type: ignore[attr-defined]


def test_half_precision_storage(gemma: Case) -> None:
    full = capture(gemma, gradients="sequence")
    half = capture(gemma, gradients="sequence", dtype=torch.float16)
    assert half.attn.dtype == torch.float16 and half.data.grad.dtype == torch.float16  # type: ignore[attr-defined]
    torch.testing.assert_close(half.map(0).tensor(), full.map(0).tensor(), rtol=1e-3, atol=1e-4)  # type: ignore[attr-defined]


def test_estimate_matches_what_the_trace_keeps(gemma: Case) -> None:
    extractor = SaliencyExtractor(gemma.model, gemma.processor, gradients="sequence", heads=[1, 3])
    estimate = extractor.estimate_trace_bytes(gemma.generated, **gemma.inputs)
    trace = extractor.capture(**gemma.inputs, generated_ids=gemma.generated, images=[gemma.image])
    kept = sum(t.numel() * t.element_size() for t in (trace.attn, trace.data.grad))
    assert estimate == kept


def test_a_capture_over_the_limit_is_refused_before_running(gemma: Case) -> None:
    extractor = SaliencyExtractor(gemma.model, gemma.processor, max_trace_bytes=1000)
    with pytest.raises(
        MemoryError, match=r"layers=\[...\], heads=\[...\].*rows='answer'.*dtype=torch.float16.*store_grads=False"
    ):
        extractor.capture(**gemma.inputs, generated_ids=gemma.generated)
    fits = SaliencyExtractor(gemma.model, gemma.processor, max_trace_bytes=10**9)
    assert fits.capture(**gemma.inputs, generated_ids=gemma.generated).attn is not None


@pytest.mark.parametrize(("option", "value"), [("layers", [7]), ("heads", [-1]), ("layers", [])])
def test_subsets_outside_the_model_are_refused(gemma: Case, option: str, value: list[int]) -> None:
    with pytest.raises(ValueError, match=rf"{option}=.*must pick among"):
        SaliencyExtractor(gemma.model, gemma.processor, **{option: value})


@pytest.mark.parametrize("name", ["llava", "mllama"])
def test_answer_rows_keep_only_what_the_answer_needs_and_map_the_same(name: str, tmp_path: Path) -> None:
    case = make_case(name)
    full = SaliencyExtractor(case.model, case.processor, gradients="sequence")
    answer = SaliencyExtractor(case.model, case.processor, gradients="sequence", rows="answer", methods=[lib.agcam])
    kwargs = {**case.inputs, "generated_ids": case.generated, "images": [case.image]}
    every, kept = full.capture(**kwargs), answer.capture(**kwargs)
    gen_start = kept.gen_start
    assert kept.captured_rows.tolist() == list(range(gen_start - 1, len(kept.token_ids)))
    assert kept.attn is not None and every.attn is not None and kept.attn.shape[2] == kept.captured_rows.numel()
    assert answer.estimate_trace_bytes(**{**case.inputs, "generated_ids": case.generated}) < full.estimate_trace_bytes(
        **{**case.inputs, "generated_ids": case.generated}
    )
    assert kept.text_positions == list(range(gen_start, len(kept.token_ids)))
    kept.save(tmp_path / "answer.safetensors")
    loaded = Trace.load(tmp_path / "answer.safetensors")
    for trace in (kept, loaded):
        for t in range(trace.total_generated_tokens):
            for mode in ("attn", "grad"):
                torch.testing.assert_close(trace.map(t, mode).tensor(), every.map(t, mode).tensor())
            torch.testing.assert_close(
                trace.map(t, "attn", align="token").tensor(), every.map(t, "attn", align="token").tensor()
            )
        with pytest.raises(ValueError, match=r"was not captured.*rows='text'"):
            trace.map(AbsoluteIndex(every.text_positions[0]))
    with pytest.raises(ValueError, match="rows must be 'text' or 'answer'"):
        SaliencyExtractor(case.model, case.processor, rows="prompt")  # type: ignore[arg-type]


def test_the_output_head_runs_only_on_the_positions_that_predict_text(gemma: Case) -> None:
    """Per-token gradients keep the logits of the positions before each text token (image positions' logits are
    never computed); the first text token after the image still gets its exact gradient."""
    trace = SaliencyExtractor(gemma.model, gemma.processor).capture(
        **gemma.inputs, generated_ids=gemma.generated, images=[gemma.image]
    )
    gradients = trace.data.token_gradients
    assert gradients is not None and gradients.logit_positions is not None
    ids = torch.tensor(trace.token_ids)
    assert gradients.logits.shape[0] == int((ids[1:] != trace.image_token_id).sum()) < len(trace.token_ids) - 1
    after_image = max(p for p in range(1, len(ids)) if ids[p - 1] == trace.image_token_id)
    _, reference = eager_attentions(gemma, grad_of=after_image)
    assert reference is not None
    main = trace.image_layouts[0].views[0].name
    got = trace.map(AbsoluteIndex(after_image), "grad", align="token", view=main).tensor()
    torch.testing.assert_close(got, view_slice(reference, after_image, trace), rtol=1e-3, atol=1e-6)
    with pytest.raises(ValueError, match="hold image tokens"):
        gradients.log_probs([after_image - 1])


def _kept_bytes(trace: Trace) -> int:
    """Bytes of every tensor a trace keeps, the methods' data included."""
    tensors = [trace.attn, trace.data.grad, trace.scores, trace.data.score_row_grad]
    if trace.matrices is not None:
        tensors += trace.matrices.attn + (trace.matrices.grad or [])
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


def test_estimate_counts_what_the_methods_ask_for(gemma: Case) -> None:
    methods = [lib.agcam, lib.relevancy]
    extractor = SaliencyExtractor(gemma.model, gemma.processor, gradients="sequence", heads=[1, 3], methods=methods)
    estimate = extractor.estimate_trace_bytes(gemma.generated, **gemma.inputs)
    trace = extractor.capture(**gemma.inputs, generated_ids=gemma.generated, images=[gemma.image])
    assert trace.scores is not None and trace.matrices is not None
    assert estimate == _kept_bytes(trace)
    # Attention only asked for, but the score gradients need it: counted as the capture keeps it.
    needing = SaliencyExtractor(gemma.model, gemma.processor, store_attns=False, methods=[lib.agcam])
    assert needing.estimate_trace_bytes(gemma.generated, **gemma.inputs) == _kept_bytes(
        needing.capture(**gemma.inputs, generated_ids=gemma.generated, images=[gemma.image])
    )


def test_estimate_for_cross_attention_counts_the_image_columns_as_keys() -> None:
    case = make_case("mllama")
    extractor = SaliencyExtractor(case.model, case.processor, gradients="sequence", methods=[lib.rollout])
    estimate = extractor.estimate_trace_bytes(case.generated, **case.inputs)
    kept = _kept_bytes(extractor.capture(**case.inputs, generated_ids=case.generated, images=[case.image]))
    plain = SaliencyExtractor(case.model, case.processor, gradients="sequence").estimate_trace_bytes(
        case.generated, **case.inputs
    )
    assert plain < estimate <= kept  # padding features of the cross-attention keys are not counted
