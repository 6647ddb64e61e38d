"""LLaVA-OneVision-1.5: Qwen2-VL's image processor and placeholders, a RiceViT tower (a CLS feature per picture,
2-D rotary positions) whose merger folds 2 x 2 patches into one image token, and a Qwen3 decoder with plain 1-D
positions."""

from __future__ import annotations

from transformers import (
    Exaone4_5_Processor,
    LlavaOnevision15Config,
    LlavaOnevision15ForConditionalGeneration,
    PreTrainedConfig,
    ProcessorMixin,
)

from .common import TEXT, VISION, Recipe, build_image_processor, chatml_template, processor_with_video, text_config
from .qwen import _QWEN_IMAGE, _qwen_tokenizer, _qwen_vision_token_ids

_PATCH = 7
_MERGE = 2


def _llava_onevision1_5() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """LLaVA-OneVision-1.5: 7 px patches merged 2 x 2, so one image token per 14 x 14 px; pictures resized to multiples
    of 14 px within 784 to 12544 pixels, one frame per patch (the tower embeds ``3 x 7 x 7`` pixels, no temporal
    pairs): an 84 x 56 picture keeps its size and gives a 4 x 6 grid (``image_grid_thw`` 1, 8, 12).

    The processor is the one transformers' ``AutoProcessor`` maps this model type to (``Exaone4_5_Processor``, a
    Qwen-VL-style processor); the chat template is Qwen2.5-VL's ChatML with its default system turn.
    """
    tokenizer = _qwen_tokenizer()
    token_side = _PATCH * _MERGE
    image_processor = build_image_processor(
        "Qwen2VLImageProcessor",
        patch_size=_PATCH,
        merge_size=_MERGE,
        temporal_patch_size=1,
        size={"shortest_edge": 4 * token_side * token_side, "longest_edge": 112 * 112},
    )
    processor = processor_with_video(
        Exaone4_5_Processor,
        image_processor,
        tokenizer,
        None,
        chat_template=chatml_template(_QWEN_IMAGE, "You are a helpful assistant."),
    )
    config = LlavaOnevision15Config(
        text_config=text_config(tokenizer, model_type="qwen3", bos_token_id=tokenizer.pad_token_id),
        vision_config={
            "depth": VISION["num_hidden_layers"],
            "hidden_size": VISION["hidden_size"],
            "intermediate_size": VISION["intermediate_size"],
            "num_heads": VISION["num_attention_heads"],
            "patch_size": _PATCH,
            "spatial_merge_size": _MERGE,
            "out_hidden_size": TEXT["hidden_size"],
        },
        **_qwen_vision_token_ids(tokenizer),
    )
    return config, processor


LLAVA_ONEVISION1_5 = Recipe(LlavaOnevision15ForConditionalGeneration, _llava_onevision1_5)
