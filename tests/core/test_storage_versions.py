"""Files of every trace format load: version 4 documents the fields that version 3 files may lack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tests.cases import make_case
from vl_saliency_widget import SaliencyExtractor, Trace
from vl_saliency_widget.core.storage import CHECKSUM_KEY, FORMAT_VERSION, METADATA_KEY, _checksum, read_trace_file

ADDED_IN_4 = ("has_grad", "layer_indices", "head_indices")
ADDED_IN_5 = ("inputs", "perturbations")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    case = make_case("gemma3", new_tokens=3)
    trace = SaliencyExtractor(case.model, case.processor).capture(
        **case.inputs, generated_ids=case.generated, images=[case.image]
    )
    trace.maps(trace.text_positions[-2:], "grad")
    path = tmp_path_factory.mktemp("versions") / "trace.safetensors"
    trace.save(path)
    return path


def _rewrite(path: Path, meta: dict, tensors: dict[str, torch.Tensor]) -> None:  # type: ignore[type-arg]
    text = json.dumps(meta)
    save_file(tensors, str(path), metadata={METADATA_KEY: text, CHECKSUM_KEY: _checksum(text, tensors)})


def test_files_are_written_in_the_current_format_with_every_documented_field(saved: Path) -> None:
    meta, _ = read_trace_file(saved)
    assert meta["format_version"] == FORMAT_VERSION == 5
    assert set(ADDED_IN_4) | set(ADDED_IN_5) <= set(meta)


def _without_inputs(meta: dict, tensors: dict[str, torch.Tensor]) -> tuple[dict, dict[str, torch.Tensor]]:  # type: ignore[type-arg]
    """A file as version 4 wrote it: no processor inputs, no perturbation tables."""
    kept = {k: v for k, v in tensors.items() if not k.startswith(("input_", "perturbation_"))}
    return {k: v for k, v in meta.items() if k not in ADDED_IN_5}, kept


def test_a_format_4_file_loads_and_says_it_cannot_run_its_model_again(saved: Path, tmp_path: Path) -> None:
    meta, tensors = _without_inputs(*read_trace_file(saved))
    old = tmp_path / "format4.safetensors"
    _rewrite(old, meta | {"format_version": 4}, tensors)
    loaded = Trace.load(old)
    assert loaded.data.inputs is None and loaded.data.perturbations == {}
    case = make_case("gemma3", new_tokens=3)
    loaded.attach(case.model, case.processor, check=False)
    with pytest.raises(ValueError, match=r"keeps no processor inputs .* capture it again"):
        loaded.reliance()


def test_a_format_3_file_without_the_later_fields_loads_as_before(saved: Path, tmp_path: Path) -> None:
    meta, tensors = _without_inputs(*read_trace_file(saved))
    old_meta = {k: v for k, v in meta.items() if k not in ADDED_IN_4} | {"format_version": 3}
    old = tmp_path / "format3.safetensors"
    _rewrite(old, old_meta, tensors)
    loaded, current = Trace.load(old), Trace.load(saved)
    assert loaded.modes == current.modes == ("attn", "grad"), "gradients saved in the file count as captured"
    assert loaded.layer_indices is None and loaded.head_indices is None
    positions = current.text_positions[-2:]
    # exact: both read the same stored tensors, no arithmetic in between
    assert torch.equal(loaded.maps(positions, "grad"), current.maps(positions, "grad"))


def test_a_format_4_file_must_say_whether_it_holds_gradients(saved: Path, tmp_path: Path) -> None:
    meta, tensors = read_trace_file(saved)
    broken = tmp_path / "no_has_grad.safetensors"
    _rewrite(broken, {k: v for k, v in meta.items() if k != "has_grad"}, tensors)
    with pytest.raises(ValueError, match=r"no 'has_grad'"):
        Trace.load(broken)
