"""InternVL / Aya Vision without the original picture: the tile grid is read off the processed views."""

from __future__ import annotations

import pytest

from vl_saliency_widget import SaliencyExtractor
from vl_saliency_widget.testing import tiny_image, tiny_inputs, tiny_vlm


@pytest.mark.parametrize("name", ["internvl", "aya_vision"])
@pytest.mark.parametrize("size", [(84, 56), (40, 120), (60, 60), (120, 30)])
def test_grid_without_pictures_matches_the_grid_from_the_pictures(name: str, size: tuple[int, int]) -> None:
    model, processor = tiny_vlm(name)
    image = tiny_image(seed=5, size=size)
    inputs = tiny_inputs(name, processor, images=[image])
    extractor = SaliencyExtractor(model, processor, store_grads=False)
    known = extractor.capture(**inputs, images=[image]).image_layouts[0]
    read = extractor.capture(**inputs).image_layouts[0]
    assert [v.name for v in read.views] == [v.name for v in known.views]
    assert len(known.views) > 1 or size == (60, 60)
    for a, b in zip(read.views, known.views, strict=True):
        assert a.positions.equal(b.positions)


def test_several_pictures_without_them_are_refused() -> None:
    model, processor = tiny_vlm("internvl")
    images = [tiny_image(seed=1), tiny_image(seed=2, size=(40, 120))]
    with pytest.raises(ValueError, match=r"with several pictures, pass the pictures"):
        SaliencyExtractor(model, processor).capture(**tiny_inputs("internvl", processor, images=images))


@pytest.mark.parametrize("name", ["internvl", "aya_vision"])
def test_a_picture_opening_token_in_the_answer_opens_no_picture(name: str) -> None:
    """A sampled answer may hold the token that opens a picture in the prompt; without image tokens after it, the
    prompt still holds one picture and its grid is read as before."""
    import torch

    model, processor = tiny_vlm(name)
    image = tiny_image(seed=5, size=(84, 56))
    inputs = tiny_inputs(name, processor, images=[image])
    opening = getattr(processor, "start_image_token", None) or processor.start_of_img_token
    start = processor.tokenizer.convert_tokens_to_ids(opening)
    answer = torch.tensor([[start, start]])
    generated = torch.cat([inputs["input_ids"], answer], dim=1)
    extractor = SaliencyExtractor(model, processor, store_grads=False)
    known = extractor.capture(**inputs, generated_ids=generated, images=[image]).image_layouts[0]
    read = extractor.capture(**inputs, generated_ids=generated).image_layouts[0]
    assert [v.name for v in read.views] == [v.name for v in known.views] and len(known.views) > 1
