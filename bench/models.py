"""Random-weight Gemma 3-shaped models built from configs written here, and their inputs.

Every benchmarked model is a ``Gemma3ForConditionalGeneration`` with the tiny zoo's small SigLIP tower, whose patches
map one to one onto the image tokens (pooling kernel 1), so the number of image tokens is set by the picture size alone.
The tokenizer and chat template are the tiny zoo's (``tiny_vlm("gemma3")``); the inputs are the tensors the processor
would return for one picture and a long prompt: ``input_ids`` with ``image_tokens`` image placeholders between
``<start_of_image>`` and ``<end_of_image>``, ``attention_mask`` and ``pixel_values`` ``[1, 3, S, S]``.
``token_type_ids`` is left out because the reference library does not pass it to the model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from transformers import Gemma3Config, Gemma3ForConditionalGeneration, PreTrainedModel, ProcessorMixin

from vl_saliency_widget.demo.parts import decoder_config
from vl_saliency_widget.testing import tiny_inputs, tiny_vlm
from vl_saliency_widget.testing.zoo.common import SIGLIP

PATCH = 4
"""Vision patch size in pixels; one patch per image token."""


@dataclass(frozen=True)
class Shape:
    """A language model's dimensions and the sequence it runs on.

    Attributes:
        name: label in the tables and plots.
        layers, heads, kv_heads, hidden, head_dim, intermediate, vocab: the text decoder's config.
        image_tokens: image tokens in the prompt (a square: 16 x 16 = 256, ...).
        tokens: total sequence length T (prompt and answer).
        answer: generated tokens at the end of the sequence.
        note: what the shape stands for.
    """

    name: str
    layers: int
    heads: int
    kv_heads: int
    hidden: int
    head_dim: int
    intermediate: int
    vocab: int
    image_tokens: int
    tokens: int
    answer: int = 8
    note: str = ""

    def with_tokens(self, tokens: int) -> Shape:
        """The same model on a sequence of ``tokens``, 7/8 of them image tokens (a square; at least 32 text tokens)."""
        side = math.isqrt(min(tokens * 7 // 8, tokens - 32))
        return Shape(
            **{**asdict(self), "name": f"{self.name} @ {tokens}", "image_tokens": side * side, "tokens": tokens}
        )

    def describe(self) -> str:
        vocab = self.vocab or "of the zoo tokenizer"
        return (
            f"{self.layers} layers x {self.heads} heads ({self.kv_heads} kv), hidden {self.hidden}, head_dim "
            f"{self.head_dim}, MLP {self.intermediate}, vocab {vocab}; {self.tokens} tokens "
            f"({self.image_tokens} image, {self.answer} answer)"
        )


def build(shape: Shape, device: str = "cpu", seed: int = 0) -> tuple[PreTrainedModel, ProcessorMixin, dict[str, Any]]:
    """The model (eager attention, eval mode, on ``device``), the zoo processor, and the capture inputs.

    Returns:
        ``(model, processor, inputs)`` where ``inputs`` holds ``input_ids`` [1, prompt], ``attention_mask``,
        ``pixel_values`` [1, 3, S, S] and ``generated_ids`` [1, T].
    """
    _, processor = tiny_vlm("gemma3")
    tokenizer: Any = processor.tokenizer  # type: ignore[attr-defined]
    side = math.isqrt(shape.image_tokens)
    if side * side != shape.image_tokens:
        raise ValueError(f"image_tokens={shape.image_tokens} is not a square number.")
    config = Gemma3Config(
        text_config=decoder_config(
            tokenizer,
            hidden_size=shape.hidden,
            intermediate_size=shape.intermediate,
            num_hidden_layers=shape.layers,
            num_attention_heads=shape.heads,
            num_key_value_heads=shape.kv_heads,
            head_dim=shape.head_dim,
            vocab_size=max(shape.vocab, len(tokenizer)),
            query_pre_attn_scalar=shape.head_dim,
            sliding_window=1024,
            layer_types=["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(shape.layers)],
            max_position_embeddings=8192,
        ),
        vision_config={**SIGLIP, "image_size": side * PATCH, "patch_size": PATCH},
        mm_tokens_per_image=shape.image_tokens,
        boi_token_index=tokenizer.boi_token_id,
        eoi_token_index=tokenizer.eoi_token_id,
        image_token_index=tokenizer.image_token_id,
    )
    config._attn_implementation = "eager"
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(seed)
        model = Gemma3ForConditionalGeneration(config)
        with torch.no_grad():
            for parameter in model.parameters():
                if parameter.ndim >= 2 and not parameter.any():
                    parameter.normal_(0.0, config.get_text_config().initializer_range)
    generated = _ids(shape, processor)
    pixel_values = torch.rand(1, 3, side * PATCH, side * PATCH, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    model.set_attn_implementation("eager")
    model.eval()
    prompt = generated[:, : shape.tokens - shape.answer]
    inputs = {
        "input_ids": prompt.to(device),
        "attention_mask": torch.ones_like(prompt).to(device),
        "pixel_values": pixel_values.to(device),
        "generated_ids": generated.to(device),
    }
    return model, processor, inputs


def _ids(shape: Shape, processor: ProcessorMixin) -> torch.Tensor:
    """[1, T]: the zoo's Gemma 3 chat prompt with ``image_tokens`` placeholders, its question repeated to fill T.

    The answer (the last ``answer`` tokens) is words of the question: any text token the model can take back.
    """
    tokenizer: Any = processor.tokenizer  # type: ignore[attr-defined]
    ids = tiny_inputs("gemma3", processor)["input_ids"][0]
    image = tokenizer.image_token_id
    where = torch.nonzero(ids == image).flatten()
    head, tail = ids[: int(where[0])], ids[int(where[-1]) + 1 :]  # ... <start_of_image> | <end_of_image> ...
    end_of_turn = int(torch.nonzero(tail == tokenizer.convert_tokens_to_ids("<end_of_turn>")).flatten()[0])
    question, closing = tail[2:end_of_turn], tail[end_of_turn:]
    fill = shape.tokens - head.numel() - shape.image_tokens - 2 - closing.numel() - shape.answer
    if fill < 1:
        raise ValueError(f"{shape.tokens} tokens cannot hold {shape.image_tokens} image tokens and the prompt.")
    cycle = question.repeat(fill // question.numel() + shape.answer + 1)
    body = [head, torch.full((shape.image_tokens,), image), tail[:2], cycle[:fill], closing, cycle[: shape.answer]]
    return torch.cat(body).unsqueeze(0)
