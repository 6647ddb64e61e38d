"""SaliencyWidget's Python side: what it sends for a selection, a method, a pipeline, and when things go wrong."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from traitlets import TraitError

from vl_saliency_widget import SaliencyExtractor, SaliencyMap, Trace
from vl_saliency_widget import transforms as T
from vl_saliency_widget.lib import agcam_reference, gradcam
from vl_saliency_widget.selectors import AbsoluteIndex
from vl_saliency_widget.testing import tiny_image, tiny_inputs, tiny_vlm
from vl_saliency_widget.viz.tokens import display_text
from vl_saliency_widget.widget import SaliencyWidget
from vl_saliency_widget.widget.serialize import encode_array, pack_message, to_json_state

from .synthetic import synthetic_trace


@pytest.fixture(scope="module")
def trace() -> Trace:
    model, processor = tiny_vlm("qwen2_vl")
    image = tiny_image()
    messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "Where?"}]}]
    inputs = processor.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_tensors="pt", add_generation_prompt=True
    )
    generated = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    return SaliencyExtractor(model, processor).capture(**inputs, generated_ids=generated, images=[image])


class Sent:
    """Records what the widget sends to its view."""

    def __init__(self) -> None:
        self.messages: list[tuple[dict[str, Any], list[Any]]] = []

    def __call__(self, content: dict[str, Any], buffers: list[Any] | None = None) -> None:
        self.messages.append((content, list(buffers or [])))

    def details(self) -> list[dict[str, Any]]:
        """The detail messages, each with its [layers, heads, h, w] map decoded under "map"."""
        out = []
        for content, buffers in self.messages:
            if content["type"] == "detail":
                spec = content.get("detail")
                if spec is not None:
                    data = np.frombuffer(buffers[spec["buffer"]], dtype=spec["dtype"]).reshape(spec["shape"])
                    content = content | {"map": data}
                out.append(content)
        return out


@pytest.fixture
def sent() -> Sent:
    return Sent()


def make(trace: Trace, sent: Sent, **kwargs: Any) -> SaliencyWidget:
    widget = SaliencyWidget(trace, **kwargs)
    widget.send = sent  # type: ignore[method-assign]
    return widget


def select(widget: SaliencyWidget, request_id: int, position: int) -> None:
    """What the view sends when a token is clicked."""
    widget._on_message(widget, {"type": "select", "id": request_id, "token": position}, [])


def decode(spec: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(spec["data"], dtype=spec["dtype"]).reshape(spec["shape"])


def reference(trace: Trace, position: int, mode: Any = "attn", pipeline: Any = None) -> SaliencyMap:
    smap = trace.map(AbsoluteIndex(position), mode=mode)
    return smap >> pipeline if pipeline is not None else smap


def generated(trace: Trace) -> list[int]:
    return [p for p in trace.text_positions if p >= trace.gen_start]


def test_selecting_a_token_syncs_it_and_answers_with_its_map(trace: Trace, sent: Sent) -> None:
    widget = make(trace, sent)
    target = generated(trace)[2]
    select(widget, 7, target)
    assert widget.token == target
    [reply] = sent.details()
    assert (reply["id"], reply["token"], reply["mode"], reply["image_index"]) == (7, target, "attn", 0)
    np.testing.assert_allclose(reply["map"], reference(trace, target).numpy())
    np.testing.assert_allclose(widget.map.numpy(), reference(trace, target).agg().numpy())


def test_each_answer_carries_its_request_id_so_the_view_can_drop_late_ones(trace: Trace, sent: Sent) -> None:
    widget = make(trace, sent)
    first, second = generated(trace)[1:3]
    select(widget, 1, first)
    select(widget, 2, second)
    select(widget, 3, second)  # the same token again is answered too
    assert [(r["id"], r["token"]) for r in sent.details()] == [(1, first), (2, second), (3, second)]


def test_token_set_from_python_pushes_its_map_with_request_id_0(trace: Trace, sent: Sent) -> None:
    widget = make(trace, sent)
    target = generated(trace)[-1]
    widget.token = target
    [reply] = sent.details()
    assert (reply["id"], reply["token"]) == (0, target)
    np.testing.assert_allclose(reply["map"], reference(trace, target).numpy())


def test_previews_hold_every_token_aggregated_in_one_binary_buffer(trace: Trace, sent: Sent) -> None:
    widget = make(trace, sent, layer_reduce="max", head_reduce="sum")
    assert isinstance(widget.previews["maps"]["data"], memoryview)
    maps, ready = decode(widget.previews["maps"]), decode(widget.previews["ready"])
    positions = decode(widget.tokens["mappable"]).tolist()
    assert positions == trace.text_positions
    assert ready.all()
    for row, position in enumerate(positions):
        expected = reference(trace, position).agg("max", "sum").numpy()[0, 0]
        np.testing.assert_allclose(maps[row], expected, rtol=1e-6)
    widget.layer_reduce = "mean"
    np.testing.assert_allclose(
        decode(widget.previews["maps"])[0], reference(trace, positions[0]).agg("mean", "sum").numpy()[0, 0], rtol=1e-6
    )


def test_mode_set_from_python_recomputes_and_rerenders(trace: Trace, sent: Sent) -> None:
    widget = make(trace, sent)
    widget.mode = "grad"
    [reply] = sent.details()
    assert (reply["id"], reply["mode"]) == (0, "grad")
    np.testing.assert_allclose(reply["map"], reference(trace, widget.token, "grad").numpy())
    np.testing.assert_allclose(widget.map.numpy(), reference(trace, widget.token, "grad").agg().numpy())
    with pytest.raises(TraitError, match="Unknown method 'nope'"):
        widget.mode = "nope"


@pytest.mark.parametrize(("name", "method"), [("gradcam", gradcam), ("agcam_reference", agcam_reference)])
def test_library_methods_in_the_menu_map_like_the_trace(trace: Trace, sent: Sent, name: str, method: Any) -> None:
    widget = make(trace, sent)
    widget.mode = name
    np.testing.assert_allclose(widget.map.numpy(), reference(trace, widget.token, method).agg().numpy(), rtol=1e-6)


def test_pipeline_set_from_python_recomputes_previews_and_detail(trace: Trace, sent: Sent) -> None:
    widget = make(trace, sent)
    pipeline = T.abs() >> T.normalize()
    before = decode(widget.previews["maps"]).copy()
    widget.pipeline = pipeline
    after = decode(widget.previews["maps"])
    assert not np.allclose(before, after)
    expected = reference(trace, widget.token, pipeline=pipeline)
    np.testing.assert_allclose(sent.details()[-1]["map"], expected.numpy(), rtol=1e-6)
    np.testing.assert_allclose(widget.map.numpy(), expected.agg().numpy(), rtol=1e-6)


def test_gradient_methods_preview_only_what_is_computed_and_a_click_computes_the_rest() -> None:
    model, processor = tiny_vlm("qwen2_vl")
    image = tiny_image(seed=3)
    messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "Hi"}]}]
    inputs = processor.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_tensors="pt", add_generation_prompt=True
    )
    generated_ids = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    fresh = SaliencyExtractor(model, processor).capture(**inputs, generated_ids=generated_ids, images=[image])
    sent = Sent()
    widget = make(fresh, sent, mode="grad")
    rows = {p: i for i, p in enumerate(fresh.text_positions)}
    ready = decode(widget.previews["ready"])
    assert ready.sum() == 0, "nothing was computed yet, yet previews claim gradient maps"
    target = generated(fresh)[1]
    select(widget, 1, target)
    assert decode(widget.previews["ready"])[rows[target]] == 1
    assert decode(widget.previews["ready"]).sum() == 1, "one click computed more than its own token"
    # Once the previews have their size, a newly computed token travels alone, not with every other token's map.
    republished: list[Any] = []
    widget.observe(republished.append, names="previews")
    second = generated(fresh)[2]
    select(widget, 2, second)
    [(content, buffers)] = [(c, b) for c, b in sent.messages if c["type"] == "preview"]
    assert np.frombuffer(buffers[content["rows"]["buffer"]], dtype=np.int32).tolist() == [rows[second]]
    maps = np.frombuffer(buffers[content["maps"]["buffer"]], dtype=np.float32).reshape(content["maps"]["shape"])
    np.testing.assert_allclose(maps[0], reference(fresh, second, "grad").agg().numpy()[0, 0], rtol=1e-6)
    assert republished == [], "one click resent every token's preview"
    assert decode(widget.previews["ready"])[rows[second]] == 1, "the trait's buffers do not hold the new preview"
    widget.compute_all()
    assert decode(widget.previews["ready"]).all()
    progress = [(c["done"], c["total"]) for c, _ in sent.messages if c["type"] == "progress"]
    assert progress == [(done, len(progress) - 1) for done in range(len(progress))]
    np.testing.assert_allclose(
        decode(widget.previews["maps"])[rows[target]], reference(fresh, target, "grad").agg().numpy()[0, 0], rtol=1e-6
    )


def test_user_methods_join_the_menu_and_are_cached(trace: Trace, sent: Sent) -> None:
    calls: list[int] = []

    def attn_times_grad(attn: SaliencyMap, grad: SaliencyMap) -> SaliencyMap:
        calls.append(1)
        return attn * grad

    widget = make(trace, sent, methods={"attn x grad": attn_times_grad})
    # the captured trace keeps its model, so the methods that run it again are offered too
    assert widget.methods == ["attn", "grad", "gradcam", "agcam_reference", "occlusion", "rise", "attn x grad"]
    widget.mode = "attn x grad"
    np.testing.assert_allclose(widget.map.numpy(), reference(trace, widget.token, attn_times_grad).agg().numpy())
    calls.clear()
    target = generated(trace)[1]
    select(widget, 1, target)
    select(widget, 2, generated(trace)[2])
    select(widget, 3, target)
    assert len(calls) == 2, "re-selecting a token recomputed its map instead of using the cache"


def test_a_raising_pipeline_shows_its_error_and_the_widget_keeps_working(trace: Trace, sent: Sent) -> None:
    widget = make(trace, sent)

    def broken(smap: SaliencyMap) -> SaliencyMap:
        raise ValueError("threshold must be positive")

    widget.pipeline = broken
    assert widget.error == "ValueError: threshold must be positive"
    assert sent.details()[-1]["error"] == widget.error
    select(widget, 5, generated(trace)[0])
    assert sent.details()[-1]["id"] == 5 and "threshold must be positive" in sent.details()[-1]["error"]
    widget.pipeline = None
    assert widget.error == ""
    select(widget, 6, generated(trace)[1])
    reply = sent.details()[-1]
    assert reply["id"] == 6 and "error" not in reply
    np.testing.assert_allclose(reply["map"], reference(trace, generated(trace)[1]).numpy())


def test_a_pipeline_that_returns_no_map_is_reported(trace: Trace, sent: Sent) -> None:
    widget = make(trace, sent)
    widget.pipeline = lambda smap: smap.tensor()
    assert re.search(r"(must return a SaliencyMap|returned Tensor)", widget.error), widget.error


def test_selected_heads_are_what_map_returns(trace: Trace, sent: Sent) -> None:
    widget = make(trace, sent)
    widget.heads = [[1, 2], [0, 0]]
    full = reference(trace, widget.token).tensor()
    expected = (full[1, 2] + full[0, 0]) / 2
    torch.testing.assert_close(widget.map.tensor()[0, 0], expected)
    widget.heads = [[0, 9]]
    with pytest.raises(IndexError, match=r"heads \[\[0, 9\]\] are outside this map's 2 layers x 4 heads"):
        _ = widget.map
    widget.mode = "grad"
    assert widget.heads == [], "a new method keeps head choices that may not exist in its maps"


def test_positions_without_a_map_are_refused_with_the_fix(trace: Trace, sent: Sent) -> None:
    widget = make(trace, sent)
    image_position = trace.image_mask.index(True)
    with pytest.raises(TraitError, match=r"cannot be mapped: choose one of trace\.text_positions"):
        widget.token = image_position
    select(widget, 9, image_position)
    assert sent.details()[-1]["id"] == 9 and "cannot be mapped" in sent.details()[-1]["error"]


def test_view_gets_token_strip_and_the_captured_picture(trace: Trace, sent: Sent) -> None:
    widget = make(trace, sent)
    assert widget.tokens["text"] == [display_text(s) for s in trace.token_strings]
    assert widget.reductions == ["mean", "sum", "max", "min"] and widget.colormaps == ["inferno", "viridis", "gray"]
    assert widget.tokens["special"] == trace.special_mask
    image_of = decode(widget.tokens["image_of"])
    assert (image_of >= 0).tolist() == trace.image_mask
    grounding = decode(widget.tokens["grounding"])
    assert grounding.max() == pytest.approx(1.0) and grounding[trace.image_mask].sum() == 0
    picture = Image.open(io.BytesIO(widget.images[0]["png"]))
    assert picture.size == trace.images[0].size
    # exact: PNG is lossless
    assert np.array_equal(np.asarray(picture.convert("RGB")), np.asarray(trace.images[0].convert("RGB")))
    assert widget.token == generated(trace)[0]


def test_to_html_is_one_offline_file(trace: Trace, sent: Sent, tmp_path: Any) -> None:
    widget = make(trace, sent)
    page = widget.to_html(tmp_path / "view.html").read_text()
    assert "<script src" not in page and "<link" not in page and "http://" not in page and "https://" not in page
    assert '"$base64"' in page and "VLSaliencyWidget.mount" in page
    assert page.count("</script>") == 3, "a </script> inside the inlined bundle or state would end it early"


def test_serialization_round_trips_arrays_as_bytes() -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    spec = encode_array(array)
    assert isinstance(spec["data"], memoryview) and spec["shape"] == [3, 4] and spec["dtype"] == "float32"
    content, buffers = pack_message({"type": "detail", "detail": spec})
    assert content["detail"] == {"buffer": 0, "dtype": "float32", "shape": [3, 4]}
    assert np.array_equal(np.frombuffer(buffers[0], dtype=np.float32).reshape(3, 4), array)  # exact: bytes
    assert to_json_state({"a": [b"\x00\xff"]}) == {"a": [{"$base64": "AP8="}]}
    with pytest.raises(TypeError, match="astype"):
        encode_array(np.zeros(2, dtype=np.float64))


@pytest.fixture(scope="module")
def two_images() -> Trace:
    model, processor = tiny_vlm("qwen2_vl")
    wide, tall = tiny_image(seed=1, size=(84, 56)), tiny_image(seed=2, size=(56, 84))
    content = [{"type": "image", "image": wide}, {"type": "image", "image": tall}, {"type": "text", "text": "Same?"}]
    inputs = processor.apply_chat_template(
        [{"role": "user", "content": content}],
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        add_generation_prompt=True,
    )
    generated_ids = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    return SaliencyExtractor(model, processor).capture(**inputs, generated_ids=generated_ids, images=[wide, tall])


def test_each_image_of_the_prompt_has_its_picture_and_maps(two_images: Trace, sent: Sent) -> None:
    widget = make(two_images, sent)
    assert [(p["width"], p["height"]) for p in widget.images] == [(84, 56), (56, 84)]
    assert sorted(set(decode(widget.tokens["image_of"]).tolist())) == [-1, 0, 1]
    widget.image_index = 1
    reply = sent.details()[-1]
    assert (reply["id"], reply["image_index"]) == (0, 1)
    expected = two_images.map(AbsoluteIndex(widget.token), mode="attn", image_index=1)
    np.testing.assert_allclose(reply["map"], expected.numpy())
    assert decode(widget.previews["maps"]).shape[1:] == tuple(expected.shape[2:]) == (6, 4)
    with pytest.raises(TraitError, match=r"image_index must be in 0\.\.1"):
        widget.image_index = 2


def test_pictures_given_to_the_widget_replace_the_captured_ones(trace: Trace, sent: Sent) -> None:
    other = tiny_image(seed=9, size=(40, 30))
    assert make(trace, sent, image=other).images[0]["width"] == 40
    with pytest.raises(ValueError, match=r"Got 2 picture\(s\) for a trace of 1 image\(s\)"):
        SaliencyWidget(trace, image=[other, other])


def test_a_trace_without_attention_opens_on_its_gradients(sent: Sent) -> None:
    trace = synthetic_trace(["a", "b", "c", "d"], attn=False)
    widget = make(trace, sent)
    assert widget.methods == ["grad"] and widget.mode == "grad"
    np.testing.assert_allclose(widget.map.numpy(), reference(trace, widget.token, "grad").agg().numpy())


def test_previews_of_a_long_trace_are_gathered_in_runs_and_match_one_by_one(
    sent: Sent, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vl_saliency_widget.core.trace as trace_module

    trace = synthetic_trace([f"w{i}" for i in range(40)], layers=3, heads=2, grid=(2, 3))
    monkeypatch.setattr(trace_module, "REDUCE_CHUNK_BYTES", 7 * 3 * 2 * 6 * 4)  # runs of 7 tokens
    widget = make(trace, sent)
    maps = decode(widget.previews["maps"])
    for row, position in enumerate(trace.text_positions):
        np.testing.assert_allclose(maps[row], reference(trace, position).agg().numpy()[0, 0], rtol=1e-6)
    grounding = decode(widget.tokens["grounding"])
    assert grounding.max() == pytest.approx(1.0)


def test_closing_a_widget_leaves_nothing_alive_in_the_kernel() -> None:
    from ipywidgets.widgets.widget import _instances

    trace = synthetic_trace(["a", "b", "c"])
    alive = set(_instances)
    widgets = [SaliencyWidget(trace) for _ in range(3)]
    assert len(set(_instances) - alive) == 6, "each widget and its layout"
    for widget in widgets:
        widget.close()
    assert set(_instances) - alive == set(), "a closed widget left a model (its layout) open in the kernel"


def test_a_subset_capture_labels_its_heads_with_the_model_s_indices(sent: Sent, tmp_path: Path) -> None:
    """layers=[1], heads=[1, 3]: the grid says L1 and H1/H3, also after saving and loading, and falls back to
    positions on an axis a pipeline shortened."""
    model, processor = tiny_vlm("qwen2_vl")
    image = tiny_image()
    extractor = SaliencyExtractor(model, processor, layers=[1], heads=[1, 3])
    captured = extractor.capture(**tiny_inputs("qwen2_vl", processor, images=[image]), images=[image])
    captured.save(tmp_path / "t.safetensors")
    for trace in (captured, Trace.load(tmp_path / "t.safetensors")):
        assert (trace.layer_indices, trace.head_indices) == ([1], [1, 3])
        assert trace.axis_labels(1, 2) == ([1], [1, 3])
        assert trace.axis_labels(2, 1) == ([0, 1], [0])
        widget = make(trace, sent)
        select(widget, 3, trace.text_positions[-1])
        reply = sent.details()[-1]
        assert (reply["layer_labels"], reply["head_labels"]) == ([1], [1, 3])
        widget.pipeline = T.SelectHeads([(0, 1)])
        assert (sent.details()[-1]["layer_labels"], sent.details()[-1]["head_labels"]) == ([1], [0])
