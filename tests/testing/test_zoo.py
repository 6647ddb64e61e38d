"""The tiny model zoo builds real transformers models and processors that run end to end, offline."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import (
    AyaVisionForConditionalGeneration,
    AyaVisionProcessor,
    BatchFeature,
    CohereTokenizer,
    DeepseekVLForConditionalGeneration,
    DeepseekVLHybridForConditionalGeneration,
    DeepseekVLHybridProcessor,
    DeepseekVLProcessor,
    Exaone4_5_Processor,
    Gemma3ForConditionalGeneration,
    Gemma3Processor,
    Gemma4ForConditionalGeneration,
    Gemma4Processor,
    GemmaTokenizer,
    Glm4vForConditionalGeneration,
    Glm4vMoeForConditionalGeneration,
    Glm4vProcessor,
    Glm46VForConditionalGeneration,
    Glm46VProcessor,
    Idefics2ForConditionalGeneration,
    Idefics2Processor,
    Idefics3ForConditionalGeneration,
    Idefics3Processor,
    InternVLForConditionalGeneration,
    InternVLProcessor,
    LlamaTokenizer,
    LlavaForConditionalGeneration,
    LlavaNextForConditionalGeneration,
    LlavaNextProcessor,
    LlavaNextVideoForConditionalGeneration,
    LlavaNextVideoProcessor,
    LlavaOnevision15ForConditionalGeneration,
    LlavaOnevisionForConditionalGeneration,
    LlavaOnevisionProcessor,
    LlavaProcessor,
    Mistral3ForConditionalGeneration,
    MllamaForConditionalGeneration,
    MllamaProcessor,
    PaliGemmaForConditionalGeneration,
    PaliGemmaProcessor,
    PreTrainedModel,
    ProcessorMixin,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2Tokenizer,
    Qwen2VLForConditionalGeneration,
    Qwen2VLProcessor,
    Qwen3_5ForConditionalGeneration,
    Qwen3_5MoeForConditionalGeneration,
    Qwen3_5Tokenizer,
    Qwen3VLForConditionalGeneration,
    Qwen3VLMoeForConditionalGeneration,
    Qwen3VLProcessor,
    SmolVLMForConditionalGeneration,
    SmolVLMProcessor,
    TokenizersBackend,
    VideoLlavaForConditionalGeneration,
    VideoLlavaProcessor,
)
from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import get_optimal_tiled_canvas
from transformers.models.llava_onevision.modeling_llava_onevision import get_anyres_image_grid_shape
from transformers.models.mllama.image_processing_pil_mllama import get_all_supported_aspect_ratios

from vl_saliency_widget import SaliencyExtractor
from vl_saliency_widget.layouts import registered_model_types
from vl_saliency_widget.testing import ARCHITECTURES, tiny_image, tiny_inputs, tiny_vlm

EXPECTED_CLASSES = {
    "gemma3": (Gemma3ForConditionalGeneration, Gemma3Processor, GemmaTokenizer),
    "paligemma": (PaliGemmaForConditionalGeneration, PaliGemmaProcessor, GemmaTokenizer),
    "llava": (LlavaForConditionalGeneration, LlavaProcessor, LlamaTokenizer),
    "llava_next": (LlavaNextForConditionalGeneration, LlavaNextProcessor, LlamaTokenizer),
    "qwen2_vl": (Qwen2VLForConditionalGeneration, Qwen2VLProcessor, Qwen2Tokenizer),
    "qwen2_5_vl": (Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor, Qwen2Tokenizer),
    "idefics3": (Idefics3ForConditionalGeneration, Idefics3Processor, TokenizersBackend),
    "smolvlm": (SmolVLMForConditionalGeneration, SmolVLMProcessor, TokenizersBackend),
    # Without torchvision, transformers exports only a placeholder for PixtralProcessor: compared by name.
    "mistral3": (Mistral3ForConditionalGeneration, "PixtralProcessor", TokenizersBackend),
    "internvl": (InternVLForConditionalGeneration, InternVLProcessor, Qwen2Tokenizer),
    "qwen3_vl": (Qwen3VLForConditionalGeneration, Qwen3VLProcessor, Qwen2Tokenizer),
    "llava_onevision": (LlavaOnevisionForConditionalGeneration, LlavaOnevisionProcessor, Qwen2Tokenizer),
    "aya_vision": (AyaVisionForConditionalGeneration, AyaVisionProcessor, CohereTokenizer),
    "mllama": (MllamaForConditionalGeneration, MllamaProcessor, TokenizersBackend),
    "idefics2": (Idefics2ForConditionalGeneration, Idefics2Processor, LlamaTokenizer),
    "llava_next_video": (LlavaNextVideoForConditionalGeneration, LlavaNextVideoProcessor, LlamaTokenizer),
    "video_llava": (VideoLlavaForConditionalGeneration, VideoLlavaProcessor, LlamaTokenizer),
    "deepseek_vl": (DeepseekVLForConditionalGeneration, DeepseekVLProcessor, TokenizersBackend),
    "deepseek_vl_hybrid": (DeepseekVLHybridForConditionalGeneration, DeepseekVLHybridProcessor, TokenizersBackend),
    # The processor AutoProcessor maps llava_onevision1_5 to.
    "llava_onevision1_5": (LlavaOnevision15ForConditionalGeneration, Exaone4_5_Processor, Qwen2Tokenizer),
    "qwen3_5": (Qwen3_5ForConditionalGeneration, Qwen3VLProcessor, Qwen3_5Tokenizer),
    "qwen3_5_moe": (Qwen3_5MoeForConditionalGeneration, Qwen3VLProcessor, Qwen3_5Tokenizer),
    "qwen3_vl_moe": (Qwen3VLMoeForConditionalGeneration, Qwen3VLProcessor, Qwen2Tokenizer),
    "glm4v": (Glm4vForConditionalGeneration, Glm4vProcessor, TokenizersBackend),
    "glm4v_moe": (Glm4vMoeForConditionalGeneration, Glm4vProcessor, TokenizersBackend),
    "glm46v": (Glm46VForConditionalGeneration, Glm46VProcessor, TokenizersBackend),
    "gemma4": (Gemma4ForConditionalGeneration, Gemma4Processor, GemmaTokenizer),
}

DEFAULT_IMAGE_TOKENS = {
    "gemma3": 4 * 4,
    "paligemma": 4 * 4,
    "llava": 8 * 8,
    "llava_next": 4 * 4 + 6 * (8 + 1),  # base view, then 2 x 2 tiles of 4 x 4 unpadded to 6 rows of 8 plus a newline
    "qwen2_vl": 4 * 6,
    "qwen2_5_vl": 4 * 6,
    "idefics3": (2 * 3 + 1) * 4 * 4,  # 2 x 3 tiles and the global view, 4 x 4 tokens each
    "smolvlm": (2 * 3 + 1) * 3 * 3,  # 2 x 3 tiles and the global view, 3 x 3 tokens each
    "mistral3": 6 * 8,  # scaled to 64 x 42 px, rounded up to 64 x 48: one token per 8 x 8 px
    "internvl": (2 * 3 + 1) * 4 * 4,  # 2 x 3 tiles and the thumbnail, 4 x 4 tokens each
    "qwen3_vl": 4 * 5,  # resized to 80 x 64 px, one token per 16 x 16 px
    "llava_onevision": 4 * 4 + 8 * (12 + 1),  # base view, then 2 x 4 tiles of 4 x 4 unpadded to 8 rows of 12 + newline
    "aya_vision": (2 * 3 + 1) * 4 * 4,  # 2 x 3 tiles and the thumbnail, 4 x 4 tokens each
    "mllama": 1,  # the image enters through cross-attention
    "idefics2": (4 + 1) * 8,  # the four quadrants and the whole picture, 8 resampler latents each
    "llava_next_video": 4 * 4 + 6 * (8 + 1),  # as llava_next
    "video_llava": 8 * 8,  # as llava
    "deepseek_vl": 8 * 8,  # the picture padded to a 32 px square, one token per 4 x 4 px patch
    "deepseek_vl_hybrid": 8 * 8,  # the same grid for the SigLIP and the SAM features
    "llava_onevision1_5": 4 * 6,  # 84 x 56 px kept, one token per 14 x 14 px
    "qwen3_5": 4 * 5,  # as qwen3_vl
    "qwen3_5_moe": 4 * 5,
    "qwen3_vl_moe": 4 * 5,
    "glm4v": 4 * 6,  # 84 x 56 px kept, one token per 14 x 14 px
    "glm4v_moe": 4 * 6,
    "glm46v": 4 * 6,
    "gemma4": 6 * 10,  # resized to 120 x 72 px, 4 px patches pooled 3 x 3
}
"""Image tokens for the default example picture (84 x 56 px): rows x cols of each view."""

NEIGHBOURS = {
    "gemma3": ("<start_of_image>", "<end_of_image>"),
    "paligemma": (None, "<bos>"),
    "llava": ("▁", "\n"),
    "llava_next": ("▁", "\n"),
    "llava_next_video": ("▁", "\n"),
    "video_llava": ("▁", "\n"),
    "deepseek_vl": ("Ġ", "What"),
    "deepseek_vl_hybrid": ("Ġ", "What"),
    "llava_onevision1_5": ("<|vision_start|>", "<|vision_end|>"),
    "qwen2_vl": ("<|vision_start|>", "<|vision_end|>"),
    "qwen2_5_vl": ("<|vision_start|>", "<|vision_end|>"),
    "qwen3_vl": ("<|vision_start|>", "<|vision_end|>"),
    "qwen3_5": ("<|vision_start|>", "<|vision_end|>"),
    "qwen3_5_moe": ("<|vision_start|>", "<|vision_end|>"),
    "qwen3_vl_moe": ("<|vision_start|>", "<|vision_end|>"),
    "glm4v": ("<|begin_of_image|>", "<|end_of_image|>"),
    "glm4v_moe": ("<|begin_of_image|>", "<|end_of_image|>"),
    "glm46v": ("<|begin_of_image|>", "<|end_of_image|>"),
    "gemma4": ("<|image>", "<image|>"),
    "llava_onevision": ("Ġ", "Ċ"),
    "mllama": ("ĊĊ", "What"),
}
"""The token just before and just after each block of image tokens (None: the block starts the sequence), for the
architectures whose image tokens form one block."""

PROMPTS = {
    "idefics3": "<|begin_of_text|> User : "
    "<fake_token_around_image> <row_1_col_1> <image>*16 <fake_token_around_image> <row_1_col_2> <image>*16 "
    "<fake_token_around_image> <row_1_col_3> <image>*16 Ċ "
    "<fake_token_around_image> <row_2_col_1> <image>*16 <fake_token_around_image> <row_2_col_2> <image>*16 "
    "<fake_token_around_image> <row_2_col_3> <image>*16 ĊĊ "
    "<fake_token_around_image> <global-img> <image>*16 <fake_token_around_image> "
    "What Ġcolor Ġis Ġthe Ġcircle ? <end_of_utterance> Ċ Assistant :",
    "smolvlm": "<|im_start|> User : "
    "<fake_token_around_image> <row_1_col_1> <image>*9 <fake_token_around_image> <row_1_col_2> <image>*9 "
    "<fake_token_around_image> <row_1_col_3> <image>*9 Ċ "
    "<fake_token_around_image> <row_2_col_1> <image>*9 <fake_token_around_image> <row_2_col_2> <image>*9 "
    "<fake_token_around_image> <row_2_col_3> <image>*9 ĊĊ "
    "<fake_token_around_image> <global-img> <image>*9 <fake_token_around_image> "
    "What Ġcolor Ġis Ġthe Ġcircle ? <end_of_utterance> Ċ Assistant :",
    "mistral3": "<s> [INST] "
    "[IMG]*8 [IMG_BREAK] [IMG]*8 [IMG_BREAK] [IMG]*8 [IMG_BREAK] "
    "[IMG]*8 [IMG_BREAK] [IMG]*8 [IMG_BREAK] [IMG]*8 [IMG_END] "
    "What Ġcolor Ġis Ġthe Ġcircle ? [/INST]",
    "internvl": "<|im_start|> user Ċ <img> <IMG_CONTEXT>*112 </img> Ċ What Ġcolor Ġis Ġthe Ġcircle ? <|im_end|> Ċ "
    "<|im_start|> assistant Ċ",
    "qwen3_vl": "<|im_start|> user Ċ <|vision_start|> <|image_pad|>*20 <|vision_end|> "
    "What Ġcolor Ġis Ġthe Ġcircle ? <|im_end|> Ċ <|im_start|> assistant Ċ",
    "qwen3_5": "<|im_start|> user Ċ <|vision_start|> <|image_pad|>*20 <|vision_end|> "
    "What Ġcolor Ġis Ġthe Ġcircle ? <|im_end|> Ċ <|im_start|> assistant Ċ <think> ĊĊ </think> ĊĊ",
    "glm4v": "[gMASK] <sop> <|user|> Ċ <|begin_of_image|> <|image|>*24 <|end_of_image|> "
    "What Ġcolor Ġis Ġthe Ġcircle ? <|assistant|> Ċ",
    "llava_onevision": "<|im_start|> user Ġ <image>*120 Ċ What Ġcolor Ġis Ġthe Ġcircle ? <|im_end|> "
    "<|im_start|> assistant Ċ",
    "aya_vision": "<BOS_TOKEN> <|START_OF_TURN_TOKEN|> <|USER_TOKEN|> <|START_OF_IMG|> "
    "TILE _ 1 <|IMG_PATCH|>*16 TILE _ 2 <|IMG_PATCH|>*16 TILE _ 3 <|IMG_PATCH|>*16 "
    "TILE _ 4 <|IMG_PATCH|>*16 TILE _ 5 <|IMG_PATCH|>*16 TILE _ 6 <|IMG_PATCH|>*16 "
    "TILE_GLOBAL <|IMG_PATCH|>*16 <|END_OF_IMG|> "
    "What Ġcolor Ġis Ġthe Ġcircle ? <|END_OF_TURN_TOKEN|> <|START_OF_TURN_TOKEN|> <|CHATBOT_TOKEN|>",
    "idefics2": "<s> ▁User : "
    + "<fake_token_around_image> <image>*8 " * 5
    + "<fake_token_around_image> ▁What ▁color ▁is ▁the ▁circle ? <end_of_utterance> \n Assistant :",
    "mllama": "<|begin_of_text|> <|start_header_id|> user <|end_header_id|> ĊĊ <|image|> "
    "What Ġcolor Ġis Ġthe Ġcircle ? <|eot_id|> <|start_header_id|> assistant <|end_header_id|> ĊĊ",
}
"""The chat-template prompt of the default picture token by token, a run of one token written ``token*count``."""

TILE_GRIDS = {
    "idefics3": {(84, 56): (2, 3), (30, 90): (3, 1)},
    "smolvlm": {(84, 56): (2, 3), (30, 90): (3, 1)},
    "internvl": {(84, 56): (2, 3), (30, 90): (3, 1)},
    "llava_onevision": {(84, 56): (2, 4), (30, 90): (4, 2)},
    "aya_vision": {(84, 56): (2, 3), (30, 90): (3, 1)},
    "mllama": {(84, 56): (2, 2), (30, 90): (3, 1)},
    "idefics2": {(84, 56): (2, 2), (30, 90): (2, 2)},
}
"""``(rows, cols)`` of the tiles each tiling architecture cuts a picture of ``(width, height)`` px into."""

WITHOUT_GLOBAL_VIEW = {"mllama"}
"""Tiling architectures that see only the tiles, no view of the whole picture."""


@dataclass
class Zoo:
    name: str
    model: PreTrainedModel
    processor: ProcessorMixin
    inputs: BatchFeature
    """The inputs of :func:`tiny_inputs` with the default picture, a :func:`tiny_image` of 84 x 56 px."""


@pytest.fixture(params=ARCHITECTURES, scope="module")
def zoo(request: pytest.FixtureRequest) -> Zoo:
    model, processor = tiny_vlm(request.param)
    return Zoo(request.param, model, processor, tiny_inputs(request.param, processor))


def tile_grids(zoo: Zoo, images: list[Image.Image]) -> list[tuple[int, int]]:
    """``(rows, cols)`` of each image's tiles, as the processor defines them."""
    if zoo.name in ("idefics3", "smolvlm"):  # the processor drops them from its outputs; its image processor has them
        grid = zoo.processor.image_processor(images, return_row_col_info=True)
        return list(zip(grid["rows"][0], grid["cols"][0], strict=True))
    if zoo.name in ("internvl", "aya_vision"):  # the processor drops num_patches from its outputs: recomputed
        image_processor = zoo.processor.image_processor
        tile = (image_processor.size["height"], image_processor.size["width"])
        limits = (image_processor.min_patches, image_processor.max_patches)
        grids = [get_optimal_tiled_canvas((image.height, image.width), tile, *limits) for image in images]
        return [(rows, cols) for cols, rows in grids]
    if zoo.name == "mllama":  # aspect_ratio_ids number the canvases of at most max_image_tiles from 1
        canvases = get_all_supported_aspect_ratios(zoo.processor.image_processor.max_image_tiles)
        inputs = zoo.processor(text=zoo.processor.image_token * len(images), images=images, return_tensors="pt")
        return [canvases[int(ratio_id) - 1] for ratio_id in inputs["aspect_ratio_ids"][0]]
    if zoo.name == "idefics2":  # image splitting always cuts the picture in four quadrants
        return [(2, 2) for _ in images]
    if zoo.name == "llava_onevision":  # the model's own choice among image_grid_pinpoints
        config = zoo.model.config
        pinpoints, tile = config.image_grid_pinpoints, config.vision_config.image_size
        return [tuple(get_anyres_image_grid_shape((image.height, image.width), pinpoints, tile)) for image in images]
    raise AssertionError(f"{zoo.name} does not tile its pictures.")


def image_token_count(zoo: Zoo, input_ids: torch.Tensor) -> int:
    return int((input_ids == zoo.model.config.image_token_id).sum())


def view_count(zoo: Zoo, inputs: BatchFeature) -> int:
    """How many views (tiles and global views) of its one picture ``inputs`` hold for the vision tower."""
    if zoo.name == "mllama":  # [batch, images, max_tiles, 3, H, W], the tiles in use marked by aspect_ratio_mask
        return int(inputs["aspect_ratio_mask"][0, 0].sum())
    if zoo.name in ("idefics3", "smolvlm", "llava_onevision", "idefics2"):  # [batch, views, 3, H, W]
        return inputs["pixel_values"].shape[1]
    return inputs["pixel_values"].shape[0]  # [views, 3, H, W]


def expected_tokens_per_image(zoo: Zoo, inputs: BatchFeature, images: list[Image.Image]) -> list[int]:
    """Image tokens per image as the config and processor outputs define them, never counted from input_ids."""
    config = zoo.model.config
    vision = config.vision_config
    if zoo.name == "mllama":  # one <|image|> per image, whatever its tiles
        return [1] * len(images)
    if zoo.name == "idefics2":  # the resampler's latents per view: the four quadrants and the whole picture
        views = 5 if zoo.processor.image_processor.do_image_splitting else 1
        return [config.perceiver_config.resampler_n_latents * views] * len(images)
    if zoo.name in ("idefics3", "smolvlm"):  # every tile and the global view: (side / patch / scale_factor)^2 each
        per_view = (vision.image_size // vision.patch_size // config.scale_factor) ** 2
        return [per_view * (rows * cols + 1) for rows, cols in tile_grids(zoo, images)]
    if zoo.name in ("internvl", "aya_vision"):  # every tile, then a thumbnail where there are several tiles
        if zoo.name == "internvl":
            per_tile = config.image_seq_length
        else:  # Aya Vision's pixel shuffle: downsample_factor x downsample_factor patches per token
            per_tile = (vision.image_size // vision.patch_size // config.downsample_factor) ** 2
        return [per_tile * (rows * cols + (rows * cols > 1)) for rows, cols in tile_grids(zoo, images)]
    if zoo.name == "mistral3":  # one token per (patch x merge)^2 pixels of the resized picture
        side = vision.patch_size * config.spatial_merge_size
        return (inputs["image_sizes"] // side).prod(-1).tolist()
    if zoo.name == "gemma3":
        return [config.mm_tokens_per_image] * len(inputs["pixel_values"])
    if zoo.name == "gemma4":  # the pooler's k x k blocks of each picture's patches (image_position_ids, -1: padding)
        patches = (inputs["image_position_ids"] != -1).all(dim=-1).sum(dim=-1)
        return (patches // vision.pooling_kernel_size**2).tolist()
    if zoo.name in ("deepseek_vl", "deepseek_vl_hybrid"):  # a token per SigLIP patch of the padded square
        return [(vision.image_size // vision.patch_size) ** 2] * len(inputs["pixel_values"])
    if zoo.name in ("paligemma", "llava", "video_llava"):  # a token per patch; LLaVA drops CLS ("default" strategy)
        return [(vision.image_size // vision.patch_size) ** 2] * len(inputs["pixel_values"])
    if zoo.name == "llava_onevision" and len(images) > 1:  # several images: each is its base view and a newline
        return [zoo.processor.num_image_tokens + 1] * len(images)
    if zoo.name in ("llava_next", "llava_onevision", "llava_next_video"):  # the processor's count (vLLM's)
        return zoo.processor._get_num_multimodal_tokens(image_sizes=inputs["image_sizes"].tolist()).num_image_tokens
    return (inputs["image_grid_thw"].prod(-1) // vision.spatial_merge_size**2).tolist()


def image_feature_rows(zoo: Zoo, inputs: BatchFeature) -> int:
    """How many image embeddings the model's own vision path makes for these inputs (Mllama: how many images it
    encodes for its cross-attention)."""
    if zoo.name == "mllama":
        names = ("pixel_values", "aspect_ratio_ids", "aspect_ratio_mask")
        with torch.no_grad():
            states = zoo.model.model.vision_model(**{key: inputs[key] for key in names}).last_hidden_state
        return states.shape[0] * states.shape[1]  # [batch, images, max_tiles, 1 + patches, features]
    names = (
        "pixel_values",
        "pixel_attention_mask",
        "image_grid_thw",
        "image_sizes",
        "batch_num_images",
        "high_res_pixel_values",
        "image_position_ids",
    )
    vision_inputs = {key: inputs[key] for key in names if key in inputs}
    with torch.no_grad():
        # DeepSeek-VL's ForConditionalGeneration has no get_image_features; its inner model has.
        get_image_features = getattr(zoo.model, "get_image_features", None) or zoo.model.model.get_image_features
        features = get_image_features(**vision_inputs).pooler_output
    if isinstance(features, torch.Tensor):
        return features.shape[0] * features.shape[1]
    return sum(feature.shape[0] for feature in features)


def test_builds_the_real_classes(zoo: Zoo) -> None:
    model_class, processor_class, tokenizer_class = EXPECTED_CLASSES[zoo.name]
    assert type(zoo.model) is model_class
    if isinstance(processor_class, str):
        assert type(zoo.processor).__name__ == processor_class
    else:
        assert type(zoo.processor) is processor_class
    assert type(zoo.processor.tokenizer) is tokenizer_class
    assert zoo.model.config.model_type == zoo.name
    assert not zoo.model.training
    extra_rows = 8 if zoo.name == "mllama" else 0  # Mllama embeds 8 ids past its vocabulary (as the hub model)
    assert zoo.model.get_input_embeddings().num_embeddings == len(zoo.processor.tokenizer) + extra_rows


def test_the_zoo_lists_each_architecture_once() -> None:
    assert set(EXPECTED_CLASSES) == set(ARCHITECTURES)
    assert len(ARCHITECTURES) == len(set(ARCHITECTURES))


def test_the_zoo_and_the_layouts_name_the_same_architectures() -> None:
    # The capture tests run on every zoo architecture: a zoo model without a layout fails there, and this names it;
    # a layout without a zoo model would be tested nowhere.
    assert set(ARCHITECTURES) == set(registered_model_types())


def test_attention_is_the_from_pretrained_default(zoo: Zoo) -> None:
    config = zoo.model.config
    assert config._attn_implementation == "sdpa"
    assert config.get_text_config()._attn_implementation == "sdpa"
    assert config.vision_config._attn_implementation == "sdpa"


def test_chat_template_inputs_run_forward_and_generate(zoo: Zoo) -> None:
    input_ids = zoo.inputs["input_ids"]
    with torch.no_grad():
        logits = zoo.model(**zoo.inputs).logits
        generated = zoo.model.generate(**zoo.inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert logits.shape == (1, input_ids.shape[1], len(zoo.processor.tokenizer))
    assert torch.isfinite(logits).all()
    assert generated.shape == (1, input_ids.shape[1] + 3)
    assert torch.equal(generated[:, : input_ids.shape[1]], input_ids)


def test_image_tokens_match_config_and_image_features(zoo: Zoo) -> None:
    input_ids = zoo.inputs["input_ids"]
    expected = DEFAULT_IMAGE_TOKENS[zoo.name]
    assert expected_tokens_per_image(zoo, zoo.inputs, [tiny_image()]) == [expected]
    assert image_token_count(zoo, input_ids) == expected
    assert image_feature_rows(zoo, zoo.inputs) == expected


@pytest.mark.parametrize(
    ("name", "grid"),
    [
        ("qwen2_vl", (4, 6)),
        ("qwen2_5_vl", (4, 6)),
        ("qwen3_vl", (4, 5)),
        ("qwen3_5", (4, 5)),
        ("qwen3_5_moe", (4, 5)),
        ("qwen3_vl_moe", (4, 5)),
        ("llava_onevision1_5", (4, 6)),
        ("glm4v", (4, 6)),
        ("glm4v_moe", (4, 6)),
        ("glm46v", (4, 6)),
    ],
)
def test_qwen_default_picture_gives_a_non_square_grid(name: str, grid: tuple[int, int]) -> None:
    model, processor = tiny_vlm(name)
    merge = model.config.vision_config.spatial_merge_size
    assert merge == 2
    rows, cols = grid
    assert tiny_inputs(name, processor)["image_grid_thw"].tolist() == [[1, rows * merge, cols * merge]]


@pytest.mark.parametrize(("size", "crops"), [((84, 56), 2), ((30, 90), 3), ((56, 56), 0)])
def test_gemma3_pan_and_scan_adds_a_block_of_image_tokens_per_crop(size: tuple[int, int], crops: int) -> None:
    model, processor = tiny_vlm("gemma3")
    inputs = tiny_inputs("gemma3", processor, images=[tiny_image(size=size)], do_pan_and_scan=True)
    assert inputs["pixel_values"].shape[0] == 1 + crops  # the full picture, then the crops
    ids = inputs["input_ids"][0]
    assert int((ids == processor.tokenizer.boi_token_id).sum()) == 1 + crops
    assert int((ids == model.config.image_token_id).sum()) == (1 + crops) * model.config.mm_tokens_per_image
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert generated.shape[1] == ids.shape[0] + 3


def test_mllama_cross_attends_from_the_image_token_on_to_cls_and_patches_of_each_tile() -> None:
    model, processor = tiny_vlm("mllama")
    text = model.config.text_config
    assert text.cross_attention_layers == [1]
    assert [type(layer).__name__ for layer in model.model.language_model.layers] == [
        "MllamaSelfAttentionDecoderLayer",
        "MllamaCrossAttentionDecoderLayer",
        "MllamaSelfAttentionDecoderLayer",
    ]
    inputs = tiny_inputs("mllama", processor, images=[tiny_image(size=(30, 90))])
    image_position = int((inputs["input_ids"][0] == model.config.image_token_id).nonzero())
    tiles = inputs["aspect_ratio_mask"][0, 0]
    assert tiles.tolist() == [1, 1, 1, 0]
    mask = inputs["cross_attention_mask"][0, :, 0]  # [T, max_tiles]
    assert not mask[:image_position].any()
    assert torch.equal(mask[image_position:], tiles.expand(mask.shape[0] - image_position, -1))
    vision = model.config.vision_config
    names = ("pixel_values", "aspect_ratio_ids", "aspect_ratio_mask")
    with torch.no_grad():
        states = model.model.vision_model(**{key: inputs[key] for key in names}).last_hidden_state
    assert states.shape[:4] == (1, 1, 4, 1 + (vision.image_size // vision.patch_size) ** 2)


@pytest.mark.parametrize("size", [(84, 56), (30, 90)])
def test_mistral3_rows_of_image_tokens_end_in_a_break_and_the_last_in_the_end_token(size: tuple[int, int]) -> None:
    model, processor = tiny_vlm("mistral3")
    inputs = tiny_inputs("mistral3", processor, images=[tiny_image(size=size)])
    side = model.config.vision_config.patch_size * model.config.spatial_merge_size
    height, width = (inputs["image_sizes"][0] // side).tolist()
    assert height != width
    tokens = processor.tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist())
    block = tokens[tokens.index("[IMG]") : tokens.index("[IMG_END]") + 1]
    assert block == (["[IMG]"] * width + ["[IMG_BREAK]"]) * (height - 1) + ["[IMG]"] * width + ["[IMG_END]"]


@pytest.mark.parametrize("zoo", list(NEIGHBOURS), indirect=True)
def test_image_tokens_form_one_block_between_their_delimiters(zoo: Zoo) -> None:
    ids = zoo.inputs["input_ids"][0]
    positions = (ids == zoo.model.config.image_token_id).nonzero().flatten()
    first, last = int(positions[0]), int(positions[-1])
    assert last - first + 1 == len(positions)
    tokens = zoo.processor.tokenizer.convert_ids_to_tokens(ids.tolist())
    before, after = NEIGHBOURS[zoo.name]
    assert (tokens[first - 1] if first > 0 else None) == before
    assert tokens[last + 1] == after


def runs(tokens: list[str]) -> str:
    """``tokens`` joined by spaces, a run of one token written ``token*count``."""
    return " ".join(
        token if count == 1 else f"{token}*{count}"
        for token, count in ((token, len(list(group))) for token, group in itertools.groupby(tokens))
    )


@pytest.mark.parametrize("zoo", list(PROMPTS), indirect=True)
def test_chat_template_prompt_token_by_token(zoo: Zoo) -> None:
    tokens = zoo.processor.tokenizer.convert_ids_to_tokens(zoo.inputs["input_ids"][0].tolist())
    assert runs(tokens) == PROMPTS[zoo.name]


@pytest.mark.parametrize("zoo", list(TILE_GRIDS), indirect=True)
def test_tiling_cuts_wide_and_tall_pictures_into_several_tiles_and_a_global_view(zoo: Zoo) -> None:
    for size, expected in TILE_GRIDS[zoo.name].items():
        image = tiny_image(size=size)
        ((rows, cols),) = tile_grids(zoo, [image])
        assert (rows, cols) == expected
        assert rows * cols > 1
        inputs = zoo.processor(text=zoo.processor.image_token, images=image, return_tensors="pt")
        assert view_count(zoo, inputs) == rows * cols + (zoo.name not in WITHOUT_GLOBAL_VIEW)


def test_plain_processor_call_with_the_image_placeholder(zoo: Zoo) -> None:
    image = tiny_image(seed=3)
    inputs = zoo.processor(
        text=f"{zoo.processor.image_token}What color is the circle?", images=image, return_tensors="pt"
    )
    assert image_token_count(zoo, inputs["input_ids"]) == sum(expected_tokens_per_image(zoo, inputs, [image]))
    with torch.no_grad():
        logits = zoo.model(**inputs).logits
    assert logits.shape[:2] == inputs["input_ids"].shape


def test_two_images_in_one_prompt(zoo: Zoo) -> None:
    images = [tiny_image(seed=1), tiny_image(seed=2, size=(40, 60))]
    inputs = tiny_inputs(zoo.name, zoo.processor, images=images, prompt="Describe the image.")
    per_image = expected_tokens_per_image(zoo, inputs, images)
    assert len(per_image) == 2
    assert image_token_count(zoo, inputs["input_ids"]) == sum(per_image) == image_feature_rows(zoo, inputs)
    with torch.no_grad():
        generated = zoo.model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert generated.shape[1] == inputs["input_ids"].shape[1] + 3


def test_image_features_depend_on_the_pixels(zoo: Zoo) -> None:
    first = tiny_inputs(zoo.name, zoo.processor, images=[tiny_image(seed=1)])
    second = tiny_inputs(zoo.name, zoo.processor, images=[tiny_image(seed=2)])
    assert torch.equal(first["input_ids"], second["input_ids"])
    assert not torch.equal(first["pixel_values"], second["pixel_values"])
    with torch.no_grad():
        logits = [zoo.model(**inputs).logits[0, -1] for inputs in (first, second)]
    assert not torch.allclose(logits[0], logits[1], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_same_seed_same_weights_other_seed_other_weights(name: str) -> None:
    global_state = torch.random.get_rng_state()
    first, _ = tiny_vlm(name, seed=0)
    again, _ = tiny_vlm(name, seed=0)
    other, _ = tiny_vlm(name, seed=1)
    assert torch.equal(torch.random.get_rng_state(), global_state)
    assert first is not again
    first_state, again_state, other_state = first.state_dict(), again.state_dict(), other.state_dict()
    assert all(torch.equal(first_state[key], again_state[key]) for key in first_state)
    assert any(not torch.equal(first_state[key], other_state[key]) for key in first_state)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="qwen2_vl") as error:
        tiny_vlm("gpt2")
    assert "gpt2" in str(error.value)
    assert all(name in str(error.value) for name in ARCHITECTURES)


def test_tiny_image_is_deterministic_and_sized() -> None:
    image = tiny_image(seed=4, size=(50, 30))
    assert image.mode == "RGB"
    assert image.size == (50, 30)
    assert image.tobytes() == tiny_image(seed=4, size=(50, 30)).tobytes()
    assert image.tobytes() != tiny_image(seed=5, size=(50, 30)).tobytes()
    assert len(np.unique(np.asarray(image).reshape(-1, 3), axis=0)) >= 4  # background and three shapes
    assert tiny_image().size == (84, 56)


@pytest.mark.parametrize("name", ["qwen3_5", "qwen3_5_moe"])
def test_qwen3_5_attention_maps_come_from_the_full_attention_layers_only(name: str) -> None:
    model, processor = tiny_vlm(name)
    # Layer 0 is Gated DeltaNet linear attention (no attention matrix), layer 1 ordinary full attention.
    assert model.config.text_config.layer_types == ["linear_attention", "full_attention"]
    trace = SaliencyExtractor(model, processor, store_grads=False).capture(**tiny_inputs(name, processor))
    assert trace.attn is not None
    assert trace.attn.shape[0] == 1


def test_gemma4_image_tokens_see_each_other_both_ways_in_the_sliding_layer_only() -> None:
    model, processor = tiny_vlm("gemma4")
    text = model.config.text_config
    assert text.layer_types == ["sliding_attention", "full_attention"]
    assert text.use_bidirectional_attention == "vision"
    model.set_attn_implementation("eager")
    inputs = tiny_inputs("gemma4", processor)
    with torch.no_grad():
        sliding, full = model(**inputs, output_attentions=True).attentions
    image = (inputs["input_ids"][0] == model.config.image_token_id).nonzero().flatten()
    first, last = int(image[0]), int(image[-1])
    assert (sliding[0, :, first, last] > 0).all()
    assert (full[0, :, first, last] == 0).all()
    # The full-attention layer's keys are its values (attention_k_eq_v): it has no value projection.
    assert model.model.language_model.layers[1].self_attn.v_proj is None
