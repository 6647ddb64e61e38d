"""Traces saved and reopened: exact round trip, no model needed, clear failures on bad files."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tests.cases import make_case
from vl_saliency_widget import SaliencyExtractor, Trace, lib
from vl_saliency_widget.core.storage import FORMAT_VERSION, METADATA_KEY
from vl_saliency_widget.selectors import AbsoluteIndex
from vl_saliency_widget.testing import tiny_image, tiny_inputs, tiny_vlm
from vl_saliency_widget.viz.tokens import display_text


@pytest.mark.parametrize("name", ["qwen2_vl", "llava_next", "mllama"])
def test_round_trip_is_exact_and_needs_no_model(name: str, tmp_path: Path) -> None:
    case = make_case(name, new_tokens=3)
    trace = SaliencyExtractor(case.model, case.processor).capture(
        **case.inputs, generated_ids=case.generated, images=[case.image]
    )
    computed = trace.text_positions[-2:]
    before_grad = trace.maps(computed, "grad")
    path = tmp_path / "trace.safetensors"
    trace.save(path)

    loaded = Trace.load(path)
    assert loaded.processor is None
    assert loaded.token_ids == trace.token_ids
    assert loaded.token_strings == trace.token_strings
    assert loaded.special_mask == trace.special_mask
    assert loaded.gen_start == trace.gen_start and loaded.modes == trace.modes
    assert [p.tobytes() for p in loaded.images] == [p.convert("RGB").tobytes() for p in trace.images]
    # exact, here and below: a round trip through the file, and the same gathers on the bit-identical data
    assert torch.equal(loaded.attn, trace.attn)  # type: ignore[arg-type]
    positions = trace.text_positions
    assert torch.equal(loaded.maps(positions, "attn"), trace.maps(positions, "attn"))
    assert torch.equal(loaded.maps(computed, "grad"), before_grad)
    for view in trace.image_layouts[0].views:
        got = loaded.map(AbsoluteIndex(computed[-1]), "attn", view=view.name)
        assert torch.equal(got.tensor(), trace.map(AbsoluteIndex(computed[-1]), "attn", view=view.name).tensor())
    # A per-token gradient that was not computed before saving cannot be computed from the file.
    missing = next(p for p in positions if p not in computed)
    with pytest.raises(ValueError, match=r"not computed before this trace was saved"):
        loaded.map(AbsoluteIndex(missing), "grad")


def test_sequence_gradients_round_trip(tmp_path: Path) -> None:
    model, processor = tiny_vlm("gemma3")
    image = tiny_image()
    trace = SaliencyExtractor(model, processor, gradients="sequence").capture(
        **tiny_inputs("gemma3", processor, images=[image]), images=[image]
    )
    trace.save(tmp_path / "t.safetensors")
    loaded = Trace.load(tmp_path / "t.safetensors")
    positions = trace.text_positions
    assert torch.equal(loaded.maps(positions, "grad"), trace.maps(positions, "grad"))  # exact: a round trip


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model, processor = tiny_vlm("qwen2_vl")
    image = tiny_image()
    trace = SaliencyExtractor(model, processor, store_grads=False).capture(
        **tiny_inputs("qwen2_vl", processor, images=[image]), images=[image]
    )
    path = tmp_path_factory.mktemp("trace") / "trace.safetensors"
    trace.save(path)
    return path


def test_truncated_file(saved: Path, tmp_path: Path) -> None:
    data = saved.read_bytes()
    for cut in (0, 7, len(data) // 2, len(data) - 1):
        broken = tmp_path / f"cut{cut}.safetensors"
        broken.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=r"not a readable trace file"):
            Trace.load(broken)


def test_newer_format_version(saved: Path, tmp_path: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(saved), framework="pt") as f:
        meta = json.loads(f.metadata()[METADATA_KEY])
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    meta["format_version"] = FORMAT_VERSION + 1
    newer = tmp_path / "newer.safetensors"
    save_file(tensors, str(newer), metadata={METADATA_KEY: json.dumps(meta)})
    with pytest.raises(ValueError, match=r"newer than this vl-saliency-widget reads"):
        Trace.load(newer)


def test_other_safetensors_and_missing_files(tmp_path: Path) -> None:
    other = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(ValueError, match=r"not a trace"):
        Trace.load(other)
    with pytest.raises(FileNotFoundError):
        Trace.load(tmp_path / "nothing.safetensors")


def test_loading_unpickles_nothing(saved: Path) -> None:
    """The file holds JSON and raw tensors only; the loader never reaches pickle."""
    import pickle

    original = pickle.loads
    pickle.loads = None  # type: ignore[assignment]
    try:
        assert Trace.load(saved).token_ids
    finally:
        pickle.loads = original


def test_widget_and_token_strip_on_a_loaded_trace(saved: Path) -> None:
    widget_module = pytest.importorskip("vl_saliency_widget.widget")
    loaded = Trace.load(saved)
    widget = widget_module.SaliencyWidget(loaded)
    assert widget.error == ""
    assert widget.map.shape[:2] == (1, 1)
    assert widget.tokens["text"] == [display_text(s) for s in loaded.token_strings]


def test_a_format_1_file_without_checksum_still_loads(saved: Path, tmp_path: Path) -> None:
    from vl_saliency_widget.core.storage import read_trace_file

    meta, tensors = read_trace_file(saved)
    old = tmp_path / "format1.safetensors"
    save_file(tensors, str(old), metadata={METADATA_KEY: json.dumps(meta | {"format_version": 1})})
    assert Trace.load(old).token_ids == Trace.load(saved).token_ids
    meta["format_version"] = 2  # a newer file without its checksum is damaged
    save_file(tensors, str(old), metadata={METADATA_KEY: json.dumps(meta)})
    with pytest.raises(ValueError, match=r"checksum"):
        Trace.load(old)


@pytest.mark.parametrize("name", ["llava", "mllama"])
def test_method_data_round_trips_and_maps_the_same(name: str, tmp_path: Path) -> None:
    """Scores, row sums and whole matrices (sequence gradients) come back exactly; the methods map the same."""
    case = make_case(name)
    methods = [lib.agcam, lib.relevancy, lib.rollout]
    extractor = SaliencyExtractor(case.model, case.processor, gradients="sequence", methods=methods)
    trace = extractor.capture(**case.inputs, generated_ids=case.generated, images=[case.image])
    trace.save(tmp_path / "t.safetensors")
    loaded = Trace.load(tmp_path / "t.safetensors")
    # exact, here and below: a round trip through the file, and the same method on the bit-identical data
    assert loaded.scores is not None and torch.equal(loaded.scores, trace.scores)
    assert loaded.matrices is not None and trace.matrices is not None and loaded.matrices.kinds == trace.matrices.kinds
    for method in methods:
        assert torch.equal(loaded.map(0, method).tensor(), trace.map(0, method).tensor())


def test_per_token_method_data_not_kept_is_named_after_loading(tmp_path: Path) -> None:
    case = make_case("llava")
    extractor = SaliencyExtractor(case.model, case.processor, methods=[lib.relevancy])
    trace = extractor.capture(**case.inputs, generated_ids=case.generated, images=[case.image])
    trace.save(tmp_path / "t.safetensors")
    loaded = Trace.load(tmp_path / "t.safetensors")
    # exact: the same method on the bit-identical data read back
    assert torch.equal(loaded.map(0, lib.rollout).tensor(), trace.map(0, lib.rollout).tensor())
    with pytest.raises(ValueError, match="relevancy needs the gradients of the whole attention matrices"):
        loaded.map(0, lib.relevancy)


def test_a_loaded_trace_shows_its_token_strip_from_its_own_strings(saved: Path) -> None:
    loaded = Trace.load(saved)
    assert loaded.processor is None
    strip = loaded.visualize_tokens(return_html=True)
    assert strip is not None
    shown = [s for s, image in zip(loaded.token_strings, loaded.image_mask, strict=True) if not image]
    assert shown and all(html.escape(string.lstrip("▁Ġ")) in strip for string in shown)
    assert html.escape("<|image_pad|>") not in strip  # image placeholders are left out, as with a processor
