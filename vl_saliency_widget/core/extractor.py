"""SaliencyExtractor: runs one teacher-forced pass of a vision-language model and returns a Trace."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from PIL import Image
from torch import nn
from transformers.utils import ModelOutput

from ..layouts import ImageLayout, LayoutContext, layout_for, processed_pictures, uses_cross_attention
from .capture import Recorder, capturing, text_config
from .gradients import TokenGradients, WholeMatrices
from .inputs import teacher_forced_inputs
from .method import Needs, needs_of_all
from .record import TraceData
from .trace import Trace

Gradients = Literal["token", "sequence"]


@dataclass
class _Plan:
    """What a capture works on, once the inputs are checked: the sequence and where its images sit."""

    ids: torch.Tensor
    prompt_len: int
    gen_start: int
    ctx: LayoutContext
    layouts: list[ImageLayout]
    columns: torch.Tensor


NO_ATTENTION_LAYERS = frozenset({"linear_attention", "conv", "moe"})
"""Layer types (a config's ``layer_types``) that hold no softmax attention: linear attention, state-space and
convolution layers of hybrid models (Qwen3.5's Gated DeltaNet layers, LFM2's convolutions)."""


def _attention_layers(text_config: Any) -> int:
    """How many layers of the language model run softmax attention, so pass through the capture."""
    kinds = getattr(text_config, "layer_types", None)
    if not kinds:
        return int(text_config.num_hidden_layers)
    return sum(kind not in NO_ATTENTION_LAYERS for kind in kinds)


def _image_token_id(config: Any) -> int | None:
    for name in ("image_token_id", "image_token_index"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def readable_bytes(size: float) -> str:
    """``size`` bytes in the largest unit (B, KiB, MiB, GiB, TiB) that keeps its number at 1 or more."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _generated_sequences(ids: Any) -> Any:
    """The token ids of ``model.generate``'s output: its ``sequences`` when it returned a ``GenerateOutput``
    (``return_dict_in_generate=True``), else ``ids`` as given."""
    sequences = getattr(ids, "sequences", None) if isinstance(ids, ModelOutput) else None
    return sequences if isinstance(sequences, torch.Tensor) else ids


def _as_2d_ids(name: str, ids: Any) -> torch.Tensor:
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids [1, T], not {type(ids).__name__}.")
    if ids.ndim == 1:
        ids = ids.unsqueeze(0)
    if ids.ndim != 2 or ids.shape[0] != 1:
        raise ValueError(
            f"{name} has shape {tuple(ids.shape)}; capture works on one sequence at a time ([1, T]). "
            "Capture each batch element separately."
        )
    if ids.dtype.is_floating_point:
        raise TypeError(f"{name} must hold integer token ids, not {ids.dtype}.")
    return ids


class SaliencyExtractor:
    """Captures attention and gradients from a Hugging Face image-text-to-text model.

    Args:
        model: a loaded model (any attention implementation; sdpa works), on any device or spread by accelerate.
        processor: its processor (used for the image layouts and token strings).
        store_attns: keep attention probabilities.
        store_grads: keep gradients with respect to attention.
        gradients: "token" (default): the gradient for a token is that of its own log-probability, computed the
            first time it is asked for and cached; "sequence": one gradient of the teacher-forced loss over the
            whole sequence, as the vl-saliency reference library computes it.
        image_token_id: the id marking image positions; read from the model config when not given.
        layers: capture only these layers (indices among the layers that see the image, from 0: the softmax
            attention layers; a hybrid model's linear-attention or convolution layers hold no attention and are not
            counted); the others are never copied. None: all.
        heads: capture only these heads of every captured layer. None: all.
        dtype: storage dtype of the kept tensors, e.g. ``torch.float16`` halves a float32 trace. None: the model's.
        max_trace_bytes: refuse, before running the model, a capture whose trace would exceed this many bytes
            (see ``estimate_trace_bytes``).
        rows: "text" (default): keep the attention rows of every text position, so any prompt or answer token can be
            mapped; "answer": only the rows the answer's tokens need (each generated token's own row and the row
            before it), a fraction of the bytes when the prompt is long.
        methods: the methods (``lib.agcam``, ``lib.relevancy``...) the traces will be mapped with; the capture also
            records what they declare they need (pre-softmax scores, every layer's whole matrix). Plain
            ``fn(attn, grad)`` methods need nothing more than the default.
        text_columns: also keep the captured rows' attention (and its gradient) on every text position:
            [layers, heads, R, text tokens] more, for ``trace.text_attribution`` (how much a token draws on each
            earlier word). Counted by ``estimate_trace_bytes``.
    """

    def __init__(
        self,
        model: nn.Module,
        processor: Any,
        store_attns: bool = True,
        store_grads: bool = True,
        *,
        gradients: Gradients = "token",
        image_token_id: int | None = None,
        layers: Sequence[int] | None = None,
        heads: Sequence[int] | None = None,
        dtype: torch.dtype | None = None,
        max_trace_bytes: int | None = None,
        methods: Sequence[Any] = (),
        rows: Literal["text", "answer"] = "text",
        text_columns: bool = False,
    ):
        if rows not in ("text", "answer"):
            raise ValueError(f"rows must be 'text' or 'answer', not {rows!r}.")
        if gradients not in ("token", "sequence"):
            raise ValueError(f"gradients must be 'token' or 'sequence', not {gradients!r}.")
        if not hasattr(model, "config"):
            raise TypeError("model must be a Hugging Face PreTrainedModel (it has no .config).")
        self.model = model
        self.processor = processor
        self.store_attns = store_attns
        self.store_grads = store_grads
        self.gradients: Gradients = gradients
        found = image_token_id if image_token_id is not None else _image_token_id(model.config)
        if found is None:
            raise ValueError(
                f"Cannot find the image token id in the config of {type(model).__name__} (no image_token_id or "
                "image_token_index). Pass it: SaliencyExtractor(model, processor, image_token_id=...)."
            )
        self.image_token_id: int = found
        self.cross = uses_cross_attention(model.config)
        text = text_config(model)
        cross_layers = getattr(text, "cross_attention_layers", None) or []
        attention_layers = _attention_layers(text)
        self.num_layers = len(cross_layers) if self.cross else attention_layers
        self._layer_kinds = (attention_layers - len(cross_layers), len(cross_layers))  # (self, cross)
        self.num_heads = int(text.num_attention_heads)
        for name, chosen, count in (("layers", layers, self.num_layers), ("heads", heads, self.num_heads)):
            if chosen is not None and (not chosen or any(not 0 <= int(i) < count for i in chosen)):
                raise ValueError(f"{name}={list(chosen)} must pick among the model's {count} {name} (0..{count - 1}).")
        self.layers = sorted({int(i) for i in layers}) if layers is not None else None
        self.heads = sorted({int(i) for i in heads}) if heads is not None else None
        self.dtype = dtype
        self.max_trace_bytes = max_trace_bytes
        self.rows: Literal["text", "answer"] = rows
        self.methods = list(methods)
        self.needs: Needs = needs_of_all(self.methods)
        if text_columns and self.cross:
            raise ValueError(
                "text_columns=True keeps the text columns of the layers that attend to the image; in "
                f"{type(model).__name__} those are cross-attention layers, whose keys are the image alone."
            )
        self.text_columns = text_columns

    def estimate_trace_bytes(
        self,
        generated_ids: torch.Tensor | ModelOutput | None = None,
        *,
        store_attns: bool | None = None,
        store_grads: bool | None = None,
        **inputs: Any,
    ) -> int:
        """Bytes the trace of ``capture(**inputs, generated_ids=...)`` would keep, computed without the model.

        Attention, pre-softmax scores and whole-sequence gradients are [layers, heads, text rows, image columns]
        each; the methods' whole matrices (``methods=[lib.relevancy]``...) [heads, T, keys] per layer of the
        language model, twice with whole-sequence gradients (for Mllama's cross-attention layers the keys are
        counted as the image columns: padding features add to that). Per-token gradients are kept two rows per
        token asked for, and are not counted.
        """
        store_attns, store_grads = self._stored(store_attns, store_grads)
        plan = self._plan(generated_ids, None, dict(inputs))
        return self._trace_bytes(plan, store_attns, store_grads)

    def _stored(self, store_attns: bool | None, store_grads: bool | None) -> tuple[bool, bool]:
        """Whether a capture keeps attention and gradients: the options given, else the extractor's, and whatever
        the methods need (score gradients are A * (dL/dA - c): they need attention and gradients too)."""
        store_attns = self.store_attns if store_attns is None else store_attns
        store_grads = self.store_grads if store_grads is None else store_grads
        needs = self.needs
        return store_attns or needs.attention or (needs.scores and needs.gradients), store_grads or needs.gradients

    def _trace_bytes(self, plan: _Plan, store_attns: bool, store_grads: bool) -> int:
        layers = len(self.layers) if self.layers is not None else self.num_layers
        heads = len(self.heads) if self.heads is not None else self.num_heads
        rows = self._rows(plan).numel()
        itemsize = (self.dtype or next(self.model.parameters()).dtype).itemsize
        sequence = store_grads and self.gradients == "sequence"
        copies = int(store_attns) + int(sequence) + int(self.needs.scores)
        kept = layers * heads * rows * int(plan.columns.numel()) * copies
        if self.needs.scores and sequence:
            kept += layers * heads * rows  # the score gradients' row sums
        if self.text_columns:
            kept += layers * heads * rows * int(self._text_columns(plan).numel()) * (int(store_attns) + int(sequence))
        if self.needs.matrices:
            length = plan.ids.shape[1]
            own, cross = self._layer_kinds
            matrices = self.num_heads * length * (own * length + cross * int(plan.columns.numel()))
            kept += matrices * (1 + int(sequence))
        return kept * itemsize

    def capture(
        self,
        generated_ids: torch.Tensor | ModelOutput | None = None,
        *,
        images: Image.Image | list[Image.Image] | None = None,
        store_attns: bool | None = None,
        store_grads: bool | None = None,
        **inputs: Any,
    ) -> Trace:
        """Run one teacher-forced pass over the prompt and answer and record what saliency maps need.

        Args:
            generated_ids: [1, T] the prompt followed by the generated answer: ``model.generate``'s output, its
                ``GenerateOutput`` (``return_dict_in_generate=True``) included.
                None: the prompt alone is captured and every token counts as "generated".
            images: the original pictures, in prompt order; kept with the trace (the widget shows them and boxes
                are given in their pixels). Without them, the pictures are rebuilt from ``pixel_values``.
            store_attns, store_grads: override the extractor's defaults for this capture.
            **inputs: every output of the processor (``input_ids``, ``attention_mask``, ``pixel_values``,
                ``token_type_ids``, ``image_grid_thw``, ...), as returned.

        Returns:
            A Trace with attention [layers, heads, R, I] and gradients for the text rows x image columns.
        """
        store_attns, store_grads = self._stored(store_attns, store_grads)
        needs = self.needs
        if not store_attns and not store_grads:
            raise ValueError("Nothing to capture: store_attns and store_grads are both False.")
        plan = self._plan(generated_ids, images, inputs)
        ids, prompt_len, ctx, layouts = plan.ids, plan.prompt_len, plan.ctx, plan.layouts
        if self.max_trace_bytes is not None:
            size = self._trace_bytes(plan, store_attns, store_grads)
            if size > self.max_trace_bytes:
                raise MemoryError(
                    f"This capture would keep {readable_bytes(size)}, over max_trace_bytes={self.max_trace_bytes} "
                    f"({readable_bytes(self.max_trace_bytes)}). Capture fewer layers or heads "
                    "(SaliencyExtractor(..., layers=[...], heads=[...])), only the answer's rows (rows='answer'), "
                    "store half precision (dtype=torch.float16), or keep only attention (store_grads=False) or "
                    "per-token gradients (gradients='token')."
                )
        model_inputs = teacher_forced_inputs(self.model, ids, prompt_len, inputs)
        rows = self._rows(plan)
        recorder = Recorder(
            rows=rows,
            cols=plan.columns,
            seq_len=ids.shape[1],
            store_attns=store_attns,
            make_probes=store_grads,
            cross=self.cross,
            layers=frozenset(self.layers) if self.layers is not None else None,
            heads=torch.tensor(self.heads) if self.heads is not None else None,
            dtype=self.dtype,
            keep_scores=needs.scores,
            keep_matrices=needs.matrices,
            text_cols=self._text_columns(plan) if self.text_columns else None,
        )
        sequence = store_grads and self.gradients == "sequence"
        # The output head ([positions, vocab], hundreds of thousands wide for Gemma) runs only where it is needed:
        # everywhere for the sequence loss, on the positions that predict a text token for per-token gradients
        # (the graph keeps those logits), on the last position alone when no gradient is taken.
        logit_positions = None
        if store_grads and not sequence:
            logit_positions = torch.nonzero(ids[0, 1:].cpu() != self.image_token_id).flatten()
        data = TraceData(
            token_ids=ids[0].tolist(),
            gen_start=plan.gen_start,
            image_token_id=self.image_token_id,
            image_layouts=layouts,
            images=self._pictures(ctx, layouts),
            gradients=self.gradients,
            has_grad=store_grads,
            columns=plan.columns if self.cross else None,
            layer_indices=self.layers,
            head_indices=self.heads,
            rows=rows if self.rows == "answer" else None,
            inputs={"input_ids": plan.ids[:, :prompt_len].cpu().clone()}
            | {k: v.detach().cpu().clone() for k, v in inputs.items() if isinstance(v, torch.Tensor)},
        )
        with capturing(self.model, recorder):
            if sequence:
                outputs = self.model(**model_inputs, labels=model_inputs["input_ids"])
            else:
                keep = 1 if logit_positions is None else logit_positions.to(model_inputs["input_ids"].device)
                outputs = self.model(**model_inputs, logits_to_keep=keep)
            if needs.matrices:
                data.matrices = WholeMatrices(recorder.matrix_attn, recorder.matrix_kinds)
            if sequence:
                self._sequence_gradients(outputs.loss, recorder, data)
            elif store_grads:
                self._token_gradients(outputs.logits[0], model_inputs["input_ids"][0], logit_positions, recorder, data)
        if (store_attns and not recorder.attn) or (store_grads and not recorder.probes):
            raise RuntimeError(
                f"No attention layer of {type(self.model).__name__} ran through the capture function: its language "
                "model does not dispatch attention through transformers' AttentionInterface."
            )
        data.attn = torch.stack(recorder.attn) if store_attns else None
        if recorder.text_cols is not None:
            data.text_columns = recorder.text_cols
            data.text_attn = torch.stack(recorder.text_attn) if store_attns else None
        data.scores = torch.stack(recorder.scores) if recorder.scores else None
        self._warn_non_finite(data)
        trace = Trace(data, processor=self.processor)
        trace.attach(self.model, self.processor, check=False)
        return trace

    def _sequence_gradients(self, loss: torch.Tensor, recorder: Recorder, data: TraceData) -> None:
        """One backward pass of the teacher-forced loss: the gradients of every probe, kept in ``data``."""
        groups = [recorder.probes, recorder.row_probes, recorder.text_probes, recorder.matrix_probes]
        grads = torch.autograd.grad(loss, [p for group in groups for p in group])
        kept = [g.to("cpu", dtype=self.dtype or g.dtype) for g in grads]
        parts, start = [], 0
        for group in groups:
            parts.append(kept[start : start + len(group)])
            start += len(group)
        attention, rows, text, matrices = parts
        data.grad = torch.stack(attention)
        if rows:
            data.score_row_grad = torch.stack(rows)
        if text:
            data.text_grad = torch.stack(text)
        if data.matrices is not None:
            data.matrices.grad = matrices

    def _token_gradients(
        self,
        logits: torch.Tensor,
        token_ids: torch.Tensor,
        logit_positions: torch.Tensor | None,
        recorder: Recorder,
        data: TraceData,
    ) -> None:
        """Keep the graph of the pass in ``data`` so that each token's gradients are computed when first asked."""

        def probed(probes: list[torch.Tensor]) -> TokenGradients:
            return TokenGradients(logits=logits, probes=probes, token_ids=token_ids, logit_positions=logit_positions)

        data.token_gradients = probed(recorder.probes)
        if recorder.row_probes:
            data.score_row_gradients = probed(recorder.row_probes)
        if recorder.text_probes:
            data.text_token_gradients = probed(recorder.text_probes)
        if data.matrices is not None:
            data.matrices.token_gradients = probed(recorder.matrix_probes)

    def _warn_non_finite(self, data: TraceData) -> None:
        """Warn, naming the layers, when the kept attention or gradients hold NaN or infinite values."""
        for name, values in (("attention", data.attn), ("gradients", data.grad)):
            finite = None if values is None else torch.isfinite(values).flatten(1).all(dim=1)
            if finite is not None and not finite.all():
                layers = self.layers or list(range(self.num_layers))
                bad = [layers[i] for i in torch.nonzero(~finite).flatten().tolist()]
                warnings.warn(
                    f"The captured {name} of {type(self.model).__name__} hold NaN or infinite values in layers {bad} "
                    f"(numbered as SaliencyExtractor(layers=...)): the model ({next(self.model.parameters()).dtype}) "
                    "overflowed. Maps of those layers and aggregates over them are not finite, and T.normalize refuses "
                    "them. Load the model in bfloat16 or float32, or capture the other layers "
                    "(SaliencyExtractor(..., layers=[...])).",
                    RuntimeWarning,
                    stacklevel=3,
                )

    def _text_columns(self, plan: _Plan) -> torch.Tensor:
        """LongTensor [Tt]: every text position of the sequence, the key columns ``text_columns=True`` keeps."""
        return torch.nonzero(plan.ids[0].cpu() != self.image_token_id).flatten()

    def _rows(self, plan: _Plan) -> torch.Tensor:
        """LongTensor [R] of the query positions to keep: every text position, or the answer's (``rows=``)."""
        text = plan.ids[0].cpu() != self.image_token_id
        if self.rows == "answer":
            text[: max(plan.gen_start - 1, 0)] = False
        return torch.nonzero(text).flatten()

    def _plan(
        self,
        generated_ids: torch.Tensor | ModelOutput | None,
        images: Image.Image | list[Image.Image] | None,
        inputs: dict[str, Any],
    ) -> _Plan:
        """Check the inputs and lay out the images; pops ``input_ids`` from ``inputs``."""
        if "input_ids" not in inputs:
            raise ValueError("capture needs the processor outputs, input_ids included: capture(**inputs, ...).")
        input_ids = _as_2d_ids("input_ids", inputs.pop("input_ids"))
        ids = input_ids if generated_ids is None else _as_2d_ids("generated_ids", _generated_sequences(generated_ids))
        prompt_len = input_ids.shape[1]
        if ids.shape[1] < prompt_len or not torch.equal(ids[:, :prompt_len].cpu(), input_ids.cpu()):
            raise ValueError(
                "generated_ids do not start with input_ids: pass the full output of model.generate(**inputs) "
                "for the same inputs (decoder-only models return the prompt followed by the answer)."
            )
        if bool((ids[0, prompt_len:] == self.image_token_id).any()):
            raise ValueError(
                f"The generated tokens contain the image placeholder (id {self.image_token_id}), which the model "
                "cannot take back as input. Generate with suppress_tokens=[image_token_id] (or bad_words_ids)."
            )
        if "pixel_values" not in inputs and "pixel_values_images" in inputs:
            # Video-LLaVA's image processor still names them so by default; its model takes either name.
            inputs["pixel_values"] = inputs.pop("pixel_values_images")
        if inputs.get("pixel_values") is None:
            raise ValueError("The inputs hold no image (no pixel_values): saliency maps need an image in the prompt.")
        gen_start = prompt_len if ids.shape[1] > prompt_len else 0

        pictures = [images] if isinstance(images, Image.Image) else images
        ctx = LayoutContext(
            config=self.model.config,  # type: ignore[union-attr]
            processor=self.processor,
            input_ids=ids[0].cpu(),
            image_token_id=self.image_token_id,
            inputs=inputs,
            images=list(pictures) if pictures is not None else None,
        )
        if ctx.image_positions.numel() == 0:
            raise ValueError(
                f"No image token (id {self.image_token_id}) in input_ids. Build the prompt with the processor's image "
                "placeholder (apply_chat_template with an image entry), or pass image_token_id= to the extractor."
            )
        layouts = layout_for(self.model.config)(ctx)  # type: ignore[union-attr]
        if pictures is not None and len(pictures) != len(layouts):
            raise ValueError(f"images= has {len(pictures)} picture(s) but the prompt holds {len(layouts)} image(s).")
        if self.cross:
            columns = torch.cat([layout.positions for layout in layouts]).sort().values
        else:
            columns = ctx.image_positions
        return _Plan(ids=ids, prompt_len=prompt_len, gen_start=gen_start, ctx=ctx, layouts=layouts, columns=columns)

    def _pictures(self, ctx: LayoutContext, layouts: list[ImageLayout]) -> list[Image.Image]:
        if ctx.images is not None:
            return ctx.images
        pictures = processed_pictures(ctx)
        return pictures[: len(layouts)]
