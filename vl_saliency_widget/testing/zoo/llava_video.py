"""LLaVA-NeXT-Video and Video-LLaVA: LLaVA models that also take videos; their images are laid out as LLaVA-NeXT's
("anyres" tiles after a base view) and LLaVA 1.5's (one CLIP patch grid), with a Vicuna (Llama) decoder.

Both processors take a video processor, which transformers builds only with torchvision; the zoo's are built
without one (images only), through the processors' own ``__init__``.
"""

from __future__ import annotations

from typing import Any

from transformers import (
    LlamaTokenizer,
    LlavaNextVideoConfig,
    LlavaNextVideoForConditionalGeneration,
    LlavaNextVideoProcessor,
    PreTrainedConfig,
    PreTrainedTokenizerBase,
    ProcessorMixin,
    VideoLlavaConfig,
    VideoLlavaForConditionalGeneration,
    VideoLlavaImageProcessor,
    VideoLlavaProcessor,
)

from ...demo.parts import LLAVA_CHAT_TEMPLATE
from ..tokenizer import build_tokenizer
from .common import VISION, Recipe, build_image_processor, text_config
from .llava import PATCH


def without_video_processor(processor_class: type[ProcessorMixin], **arguments: Any) -> ProcessorMixin:
    """``processor_class(video_processor=None, **arguments)``, skipping only the class check of the video processor
    (which fails outright without torchvision); see :func:`.common.processor_with_video`, which passes the
    sub-processors in the order image, tokenizer, video that these two processors do not use."""
    processor = processor_class.__new__(processor_class)
    check_class = processor.check_argument_for_proper_class

    def check_all_but_video(argument_name: str, argument: object) -> object:
        return None if argument_name == "video_processor" else check_class(argument_name, argument)

    processor.check_argument_for_proper_class = check_all_but_video  # type: ignore[method-assign]
    processor_class.__init__(processor, video_processor=None, **arguments)
    del processor.check_argument_for_proper_class
    return processor


def _vicuna_tokenizer() -> PreTrainedTokenizerBase:
    """Vicuna's Llama tokenizer with the ``<image>`` and ``<video>`` placeholders and ``<pad>``."""
    return build_tokenizer(
        LlamaTokenizer,
        "sentencepiece",
        {
            "unk_token": "<unk>",
            "bos_token": "<s>",
            "eos_token": "</s>",
            "pad_token": "<pad>",
            "image_token": "<image>",
            "video_token": "<video>",
        },
        add_bos_token=True,
    )


def _llava_next_video() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """LLaVA-NeXT-Video: LLaVA-NeXT's image path (a 16 px CLIP tower with 4 px patches, CLS dropped, "anyres" tiling
    on a grid of 16 px tiles) with LLaVA 1.5's chat template.

    An 84 x 56 picture takes 2 x 2 tiles (8 x 8 patches), unpadded to 6 rows x 8 columns after the 4 x 4 base view:
    16 + 6 * (8 + 1) = 70 image tokens, as LLaVA-NeXT.
    """
    tokenizer = _vicuna_tokenizer()
    pinpoints = [[16, 32], [32, 16], [32, 32]]
    image_processor = build_image_processor(
        "LlavaNextImageProcessor",
        size={"shortest_edge": 16},
        crop_size={"height": 16, "width": 16},
        image_grid_pinpoints=pinpoints,
    )
    processor = without_video_processor(
        LlavaNextVideoProcessor,
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_CHAT_TEMPLATE,
    )
    config = LlavaNextVideoConfig(
        text_config=text_config(tokenizer, model_type="llama"),
        vision_config={"model_type": "clip_vision_model", **VISION, "image_size": 16, "patch_size": PATCH},
        image_token_index=tokenizer.image_token_id,
        video_token_index=tokenizer.video_token_id,
        image_seq_length=(16 // PATCH) ** 2,
        video_seq_length=(16 // PATCH // 2) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        image_grid_pinpoints=pinpoints,
    )
    return config, processor


LLAVA_NEXT_VIDEO = Recipe(LlavaNextVideoForConditionalGeneration, _llava_next_video)


def _video_llava() -> tuple[PreTrainedConfig, ProcessorMixin]:
    """Video-LLaVA: LLaVA 1.5's image path (a 32 px CLIP tower with 4 px patches, CLS dropped, 8 x 8 = 64 image tokens
    of the centre crop of a picture whose short side is scaled to 32 px) through its own image tower; LLaVA 1.5's chat
    template.

    Its image processor returns the pictures as ``pixel_values_images`` unless called with
    ``return_legacy_image_output=False`` (transformers 5.25 still defaults to the legacy name, with a deprecation
    warning); the zoo's processor asks for ``pixel_values``, the name the model and the other LLaVA processors use.
    """
    tokenizer = _vicuna_tokenizer()
    # The one backend transformers has for it (numpy and PIL), with or without torchvision.
    image_processor = VideoLlavaImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = without_video_processor(
        VideoLlavaProcessor,
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_CHAT_TEMPLATE,
    )
    # A processor default of this instance (``ProcessorMixin._merge_kwargs`` reads its ``images_kwargs``).
    images_kwargs: dict[str, Any] = {**VideoLlavaProcessor.images_kwargs, "return_legacy_image_output": False}
    processor.images_kwargs = images_kwargs  # type: ignore[assignment]
    config = VideoLlavaConfig(
        text_config=text_config(tokenizer, model_type="llama"),
        vision_config={"model_type": "clip_vision_model", **VISION, "image_size": 32, "patch_size": PATCH},
        image_token_index=tokenizer.image_token_id,
        video_token_index=tokenizer.video_token_id,
        image_seq_length=(32 // PATCH) ** 2,
        video_seq_length=8 * ((32 // PATCH) ** 2 + 1),
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    return config, processor


VIDEO_LLAVA = Recipe(VideoLlavaForConditionalGeneration, _video_llava)
