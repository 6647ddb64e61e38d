"""SaliencyGallery's state: its menus, the order it shows, the cards it sends (and only those asked for), the open
sample's widget, and the exported page."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import traitlets as t
from PIL import Image

from tests.gallery.conftest import FAILED_EVERY, SAMPLES
from vl_saliency_widget import SaliencyGallery as TopLevelGallery
from vl_saliency_widget.gallery import SaliencyGallery
from vl_saliency_widget.gallery.cards import reduce_map
from vl_saliency_widget.gallery.protocol import MAX_ITEMS
from vl_saliency_widget.runs import Run
from vl_saliency_widget.widget import SaliencyWidget
from vl_saliency_widget.widget.serialize import decode_array

FAILED = [i for i in range(SAMPLES) if i % FAILED_EVERY == FAILED_EVERY - 1]


class Sent:
    """What a gallery sent to its view: (content, buffers) per message."""

    def __init__(self, gallery: SaliencyGallery) -> None:
        self.messages: list[tuple[dict[str, Any], list[memoryview]]] = []
        gallery.send = lambda content, buffers=None: self.messages.append((content, list(buffers or [])))

    def last(self) -> tuple[dict[str, Any], list[memoryview]]:
        return self.messages[-1]


def ask(gallery: SaliencyGallery, indices: list[int], pictures: list[int] | None = None, request: int = 1) -> Any:
    """Send the gallery the view's request for ``indices`` and return its answer (content, buffers)."""
    sent = Sent(gallery)
    gallery._on_message(gallery, {"type": "items", "id": request, "indices": indices, "pictures": pictures or []}, [])
    assert gallery.error == "", gallery.error
    return sent.last()


def order(gallery: SaliencyGallery) -> list[int]:
    return decode_array(gallery.order["indices"]).tolist()


def test_the_top_level_exports_the_gallery_lazily() -> None:
    assert TopLevelGallery is SaliencyGallery


def test_menus_say_which_methods_and_reductions_the_run_precomputed(run: Run) -> None:
    gallery = SaliencyGallery(run)
    methods = {entry["name"]: entry for entry in gallery.methods}
    assert [name for name, entry in methods.items() if entry["precomputed"]] == ["attn", "gradcam"]
    assert methods["rollout"]["note"].startswith("not precomputed")
    assert "methods=[..., 'rollout']" in methods["rollout"]["note"]
    reductions = {entry["name"]: entry["precomputed"] for entry in gallery.reductions}
    assert reductions == {"mean": True, "sum": False, "max": False, "min": False}
    assert gallery.method == "attn" and gallery.total == SAMPLES
    with pytest.raises(t.TraitError, match=r"did not precompute 'rollout'.*capture_dataset"):
        gallery.method = "rollout"


def test_the_order_follows_sort_direction_filters_and_the_token_reduction(run: Run) -> None:
    gallery = SaliencyGallery(run)
    assert order(gallery) == list(range(SAMPLES)) and gallery.order["values"] is None
    gallery.sort_by = "reliance"
    reliance = [row["reliance"] for row in run.rows]
    assert order(gallery) == sorted(range(SAMPLES), key=lambda i: reliance[i])
    assert decode_array(gallery.order["values"]).tolist() == pytest.approx([reliance[i] for i in order(gallery)])
    gallery.descending = True
    assert order(gallery)[0] == int(np.argmax(reliance))
    gallery.filters = [{"column": "question", "text": "CIRCLE"}]
    assert order(gallery) and all("circle" in run.rows[i]["question"] for i in order(gallery))
    assert gallery.ids == [run.rows[i]["id"] for i in order(gallery)]
    # a per-token column: failed samples have no score and come last; the token reduction changes the values
    gallery.filters = []
    gallery.sort_by = "energy_attn"
    gallery.descending = False
    assert order(gallery)[-len(FAILED) :] == FAILED
    first = decode_array(gallery.order["values"]).copy()
    gallery.token = "max"
    assert not np.array_equal(decode_array(gallery.order["values"]), first)
    with pytest.raises(t.TraitError, match="No sortable column 'nope'"):
        gallery.sort_by = "nope"
    with pytest.raises(t.TraitError, match="filter it with 'min' and 'max'"):
        gallery.filters = [{"column": "reliance", "text": "1"}]


def test_nothing_but_the_order_is_sent_before_the_view_asks_for_cards(run: Run) -> None:
    gallery = SaliencyGallery(run)
    state = gallery.get_state([name for name in SaliencyGallery.class_own_traits(sync=True) if name != "order"])
    state_bytes = len(json.dumps(state))
    order_bytes = sum(len(v["data"]) for v in gallery.order.values() if v is not None)
    assert order_bytes == 4 * SAMPLES  # int32 row indices; no values in the dataset's order
    assert state_bytes < 4000  # menus and columns: no picture, no map
    assert gallery.cards.reads == 0


def test_a_request_gets_its_cards_maps_and_only_the_pictures_asked_for(run: Run) -> None:
    gallery = SaliencyGallery(run, thumbnail=40)
    asked = [0, 1, 2, FAILED[0], 8]
    content, buffers = ask(gallery, asked, pictures=[0, 2, FAILED[0]], request=7)
    assert content["type"] == "items" and content["id"] == 7 and len(buffers) == 2
    assert (content["method"], content["token"]) == ("attn", "first")
    items = {item["index"]: item for item in content["items"]}
    assert list(items) == asked
    maps = np.frombuffer(buffers[content["maps"]["buffer"]], dtype=np.float32)
    pictures = bytes(buffers[content["pictures"]["buffer"]])
    for index in [0, 1, 2, 8]:
        offset, rows, cols = items[index]["map"]
        sample = run.rows[index]
        expected = reduce_map(run.maps(sample["id"])["attn"][0].numpy(), sample["special"], "first")
        assert np.array_equal(maps[offset : offset + rows * cols].reshape(rows, cols), expected)
        assert items[index]["question"] == sample["question"] and items[index]["answer"] == sample["answer"]
    assert items[1]["picture"] is None and items[8]["picture"] is None  # not asked for
    failed = items[FAILED[0]]
    assert failed["status"] == "failed" and failed["map"] is None and failed["picture"] is None
    assert failed["error"].startswith("OSError")
    for index in [0, 2]:
        offset, length, width, height = items[index]["picture"]
        picture = Image.open(io.BytesIO(pictures[offset : offset + length]))
        assert picture.format == "PNG" and picture.size == (width, height) and max(width, height) == 40
    assert len(pictures) == sum(items[i]["picture"][1] for i in [0, 2])


def test_maps_follow_the_method_and_token_and_are_read_from_files_once(run: Run) -> None:
    gallery = SaliencyGallery(run)
    ask(gallery, [3, 4])
    reads = gallery.cards.reads
    ask(gallery, [3, 4])
    assert gallery.cards.reads == reads  # cached
    gallery.method, gallery.token = "gradcam", "mean"
    content, buffers = ask(gallery, [3])
    assert (content["method"], content["token"]) == ("gradcam", "mean")
    offset, rows, cols = content["items"][0]["map"]
    values = np.frombuffer(buffers[0], dtype=np.float32)[offset : offset + rows * cols].reshape(rows, cols)
    stack = run.maps(run.rows[3]["id"])["gradcam"][0].numpy()  # [tokens, rows, cols]; token 1 is "</s>"
    assert np.allclose(values, stack[0])  # the mean over the answer's words: the one that is not special
    gallery.token = "max"
    content, buffers = ask(gallery, [3])
    values = np.frombuffer(buffers[0], dtype=np.float32).reshape(rows, cols)
    assert np.array_equal(values, stack[0])


def test_a_page_of_cards_costs_bytes_in_proportion_to_what_is_shown(run: Run) -> None:
    gallery = SaliencyGallery(run)
    content, buffers = ask(gallery, list(range(24)), pictures=list(range(24)))
    with_pictures = len(json.dumps(content)) + sum(len(b) for b in buffers)
    content, buffers = ask(gallery, list(range(24)))
    maps_only = len(json.dumps(content)) + sum(len(b) for b in buffers)
    assert maps_only < with_pictures / 2
    assert maps_only < 24 * (6 * 8 * 4 + 300)  # a [6, 8] float32 map and its text per card


def test_malformed_requests_show_in_the_banner_and_the_gallery_goes_on(run: Run) -> None:
    gallery = SaliencyGallery(run)
    sent = Sent(gallery)
    for message, words in [
        ({"type": "select", "token": 1}, "does not know"),
        ({"type": "items", "id": "1", "indices": [0]}, "malformed"),
        ({"type": "items", "id": 1, "indices": [SAMPLES]}, f"rows [{SAMPLES}]"),
        ({"type": "items", "id": 1, "indices": list(range(MAX_ITEMS + 1))}, f"at most {MAX_ITEMS}"),
    ]:
        gallery.error = ""
        gallery._on_message(gallery, message, [])
        assert words in gallery.error
    assert sent.messages == []
    gallery.error = ""
    assert ask(gallery, [0])[0]["items"][0]["index"] == 0


def test_opening_a_sample_shows_its_widget_and_back_closes_it(run: Run) -> None:
    gallery = SaliencyGallery(run, method="gradcam")
    widget = gallery.open_sample("s00003")
    assert isinstance(widget, SaliencyWidget) and gallery.widget is widget and gallery.opened == 3
    assert widget.trace.token_strings == run.trace("s00003").token_strings
    assert widget.mode == "gradcam"  # the gallery's method, which the widget's menu has
    assert widget.comm is not None
    gallery.back()
    assert gallery.opened == -1 and gallery.detail is None and widget.comm is None
    # the view opens by setting `opened`
    gallery.opened = 5
    assert isinstance(gallery.detail, SaliencyWidget)
    with pytest.raises(ValueError, match=r"failed \(OSError.*no trace to open"):
        gallery.open_sample(run.rows[FAILED[0]]["id"])
    with pytest.raises(KeyError, match="No sample 'nope'"):
        gallery.open_sample("nope")
    with pytest.raises(t.TraitError, match="row index from 0"):
        gallery.opened = SAMPLES


def test_a_trace_that_does_not_load_goes_to_the_banner_and_the_grid_stays(run: Run, tmp_path: Path) -> None:
    rows = [dict(row) for row in run.rows]
    rows[0]["trace"] = "shard-0/traces/missing.safetensors"
    gallery = SaliencyGallery(Run(run.path, rows, run.settings))
    gallery.opened = 0
    assert gallery.opened == -1 and gallery.detail is None
    assert gallery.error.startswith("FileNotFoundError") and "missing.safetensors" in gallery.error


def test_a_run_without_maps_is_refused_with_what_to_do(run: Run) -> None:
    with pytest.raises(ValueError, match="holds no precomputed maps"):
        SaliencyGallery(Run(run.path, [], {"methods": []}))


def exported_state(path: Path) -> dict[str, Any]:
    text = path.read_text()
    found = re.search(r"<script type='application/json' id='saliency-gallery-state'>(.*?)</script>", text, re.S)
    assert found is not None
    return json.loads(found.group(1))


def test_the_exported_page_holds_its_samples_pictures_maps_and_column_values(run: Run, tmp_path: Path) -> None:
    gallery = SaliencyGallery(run, sort_by="reliance", descending=True)
    path = gallery.to_html(tmp_path / "page.html", page=1, page_size=16)
    state = exported_state(path)
    page = state["static"]
    shown = order(gallery)
    assert page["rows"] == shown[16:32] and (page["page"], page["pages"], page["shown"]) == (1, 3, SAMPLES)
    assert (state["sort_by"], state["descending"]) == ("reliance", True)
    assert [item["index"] for item in page["items"]] == page["rows"]
    assert page["table"]["reliance"] == [run.rows[i]["reliance"] for i in page["rows"]]
    assert set(page["table"]["energy_attn"]) == {"first", "mean", "max"}
    for position, index in enumerate(page["rows"]):
        picture, maps = page["pictures"][position], page["maps"]["gradcam"]["mean"][position]
        if index in FAILED:
            assert picture is None and maps is None
        else:
            assert picture["png"]["$base64"] and maps["shape"] == [6, 8] and "$base64" in maps["data"]
    assert "</script><script>" not in path.read_text().split("saliency-gallery-state")[1].split("</script>")[0]
    with pytest.raises(IndexError, match="pages 0 to 2"):
        gallery.to_html(tmp_path / "nope.html", page=3, page_size=16)
