"""A zoo of tiny random-weight vision-language models with their real Hugging Face processors, built offline.

Each entry is the ``*ForConditionalGeneration`` class a user loads, with the processor class and image processor of
that model, a chat template in the style of the hub model's, and a small word-level tokenizer of the model's own
tokenizer class (see :mod:`..tokenizer`). Only the sizes are tiny: 2 text layers of width 64 with 4 query heads over
2 key/value heads (16 channels each; Mllama has a third, its cross-attention layer), 2 vision layers of width 32, and
a few dozen to about a hundred image tokens per image. The tiling architectures (Idefics3, SmolVLM, InternVL,
LLaVA-NeXT, LLaVA-OneVision, Aya Vision, Mllama) use tiles of 16 to 48 px, so that the 84 x 56 example picture and a
1:3 portrait are cut into several tiles.

There is one module per architecture family, as in :mod:`vl_saliency_widget.layouts` (:mod:`.gemma`, :mod:`.llava`,
:mod:`.llava_next`, :mod:`.qwen`, :mod:`.idefics3`, :mod:`.mistral`, :mod:`.tiled`, :mod:`.mllama`); each defines a
:class:`.common.Recipe` per architecture: the model class and a function that returns the config and the processor.
:mod:`.common` holds the tiny sizes and the helpers the families share. Adding an architecture is one recipe in its
family's module and one entry in ``_RECIPES`` below (and its layout in :mod:`vl_saliency_widget.layouts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
from PIL import Image
from transformers import BatchFeature, PreTrainedModel, ProcessorMixin

from ..images import tiny_image
from . import (
    deepseek_vl,
    gemma,
    gemma4,
    glm4v,
    idefics2,
    idefics3,
    llava,
    llava_next,
    llava_onevision1_5,
    llava_video,
    mistral,
    mllama,
    qwen,
    qwen_variants,
    tiled,
)
from .common import Recipe

_RECIPES: dict[str, Recipe] = {
    "gemma3": gemma.GEMMA3,
    "paligemma": gemma.PALIGEMMA,
    "llava": llava.LLAVA,
    "qwen2_vl": qwen.QWEN2_VL,
    "qwen2_5_vl": qwen.QWEN2_5_VL,
    "llava_next": llava_next.LLAVA_NEXT,
    "idefics3": idefics3.IDEFICS3,
    "smolvlm": idefics3.SMOLVLM,
    "mistral3": mistral.MISTRAL3,
    "internvl": tiled.INTERNVL,
    "qwen3_vl": qwen.QWEN3_VL,
    "llava_onevision": llava_next.LLAVA_ONEVISION,
    "aya_vision": tiled.AYA_VISION,
    "mllama": mllama.MLLAMA,
    "idefics2": idefics2.IDEFICS2,
    "llava_next_video": llava_video.LLAVA_NEXT_VIDEO,
    "video_llava": llava_video.VIDEO_LLAVA,
    "deepseek_vl": deepseek_vl.DEEPSEEK_VL,
    "deepseek_vl_hybrid": deepseek_vl.DEEPSEEK_VL_HYBRID,
    "llava_onevision1_5": llava_onevision1_5.LLAVA_ONEVISION1_5,
    "qwen3_5": qwen_variants.QWEN3_5,
    "qwen3_5_moe": qwen_variants.QWEN3_5_MOE,
    "qwen3_vl_moe": qwen_variants.QWEN3_VL_MOE,
    "glm4v": glm4v.GLM4V,
    "glm4v_moe": glm4v.GLM4V_MOE,
    "glm46v": glm4v.GLM46V,
    "gemma4": gemma4.GEMMA4,
}

ARCHITECTURES: tuple[str, ...] = tuple(_RECIPES)
"""Every architecture :func:`tiny_vlm` builds, by transformers ``model_type``; the package has an image layout for
each (:func:`vl_saliency_widget.layouts.registered_model_types` lists the same names), so each runs end to end."""

__all__ = ["ARCHITECTURES", "tiny_inputs", "tiny_vlm"]


def _recipe(name: str) -> Recipe:
    if name not in _RECIPES:
        raise ValueError(f"Unknown tiny architecture {name!r}; choose one of {', '.join(_RECIPES)}.")
    return _RECIPES[name]


def _randomize_zero_initialised(model: PreTrainedModel, std: float) -> None:
    """Draw the weights that their initialiser left at zero and that would cut the image off the text.

    Every weight matrix left all zero is drawn from ``N(0, std^2)``: some projectors start at zero (Gemma 3's
    ``mm_input_projection_weight``), which would make every image embed to the same vector. Every one-number gate left
    at zero is drawn from ``N(0, 1)``, so that ``tanh(gate)`` is of order one: Mllama scales its cross-attention
    layers and its tile position embeddings by such gates, which a trained model has learned away from zero. Vectors
    that start at zero (biases, Gemma's ``1 + weight`` norms) are left as they are.
    """
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.any():
                continue
            if parameter.ndim >= 2:
                parameter.normal_(0.0, std)
            elif parameter.numel() == 1:
                parameter.normal_(0.0, 1.0)


def tiny_vlm(name: str, seed: int = 0) -> tuple[PreTrainedModel, ProcessorMixin]:
    """Build a tiny random-weight vision-language model and its processor.

    Args:
        name: one of :data:`ARCHITECTURES`.
        seed: seeds the weights; the same seed gives an identical ``state_dict``. The global torch random state is
            left as it was.

    Returns:
        ``(model, processor)``: a fresh ``*ForConditionalGeneration`` in eval mode with the attention implementation
        ``from_pretrained`` would give (normally ``"sdpa"``), and its processor, which carries a chat template.

    Raises:
        ValueError: ``name`` is not the name of an architecture of the zoo.
    """
    recipe = _recipe(name)
    config, processor = recipe.parts()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = recipe.model_class._from_config(config)
        _randomize_zero_initialised(model, std=config.get_text_config().initializer_range)
    # A trained model never emits its image placeholder; random weights would, even when sampling a short answer.
    model.generation_config.suppress_tokens = [int(config.image_token_id)]
    return model.eval(), processor


def tiny_inputs(
    name: str,
    processor: ProcessorMixin,
    images: Sequence[Image.Image] | None = None,
    prompt: str = "What color is the circle?",
    **processor_kwargs: Any,
) -> BatchFeature:
    """Model inputs for one user turn through the processor's chat template, with a generation prompt.

    Args:
        name: the architecture given to :func:`tiny_vlm`; picks the example picture's size.
        processor: the processor returned by :func:`tiny_vlm` for ``name``.
        images: the pictures of the turn, in order before the prompt; ``None`` means one :func:`tiny_image` of
            the recipe's example size (84 x 56 px).
        prompt: the text of the turn.
        **processor_kwargs: passed to the processor call, e.g. ``do_pan_and_scan=True`` for Gemma 3, whose zoo
            processor then cuts a picture of aspect ratio 1.2 or more into 2 to 4 crops of at least 16 px along its
            long side, each one more block of image tokens after the full picture's.

    Returns:
        A ``BatchFeature`` of tensors for ``model(**inputs)`` or ``model.generate(**inputs)``: ``input_ids`` and
        ``attention_mask`` ``[1, T]``, ``pixel_values`` and the architecture's extras (``token_type_ids``,
        ``image_grid_thw`` ``[images, 3]``...).
    """
    if images is None:
        images = [tiny_image(size=_recipe(name).example_image_size)]
    content = [*({"type": "image", "image": image} for image in images), {"type": "text", "text": prompt}]
    conversation: Any = [{"role": "user", "content": content}]  # transformers annotates ``content`` as a string
    inputs = processor.apply_chat_template(
        conversation,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        add_generation_prompt=True,
        processor_kwargs=processor_kwargs,
    )
    return cast(BatchFeature, inputs)
