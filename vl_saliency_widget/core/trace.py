"""Trace: what a capture recorded, and the maps computed from it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from PIL import Image

from ..layouts import ImageLayout
from ..layouts.canvas import Canvas, canvas, is_plain
from .gradients import GradientStore, WholeMatrices
from .image_to_text import sinks, tokens_for
from .map import SaliencyMap
from .method import LayerMatrices, Method, MethodInputs, Needs, TraceMethod, method_name, needs_of_all
from .perturb import Perturbations, Perturber, Reliance, baseline_picture
from .record import GradientKind, TraceData
from .reduce import LINEAR, Reduction, check_reduction, reduce_layers_heads
from .regions import Region
from .storage import load_trace_data, save_trace_data

Align = Literal["predicting", "token"]
MODES = ("attn", "grad")
REDUCE_CHUNK_BYTES = 64 * 2**20
"""``Trace.maps`` reduces the attention of this many float32 bytes of query rows at a time."""


@runtime_checkable
class Selector(Protocol):
    """Picks one token of a trace.

    Returns the token's index relative to ``trace.gen_start``: 0 is the first generated token, negative
    values are prompt tokens. ``trace.map(selector)`` maps that token.
    """

    def __call__(self, trace: Trace, /) -> int: ...


class Trace:
    """Attention and gradients recorded for one prompt and its answer (see ``TraceData`` for what it holds).

    Attention and gradients are kept for text-query rows x image-key columns: ``[layers, heads, R, I]``, where
    R counts the captured text positions of the sequence and I the image columns.

    Args:
        data: what the capture recorded.
        processor: the processor used, for token strings; None for a trace read from a file.
    """

    def __init__(self, data: TraceData, processor: Any = None):
        if data.attn is None and not data.has_grad:
            raise ValueError("A trace needs attention or gradients; capture with store_attns or store_grads.")
        self.data = data
        self.processor = processor
        is_image = torch.tensor(data.token_ids) == data.image_token_id
        # The captured query rows: every text position, or those a capture with rows="answer" kept.
        self._rows = torch.nonzero(~is_image).flatten() if data.rows is None else data.rows.clone()
        # The key index of each captured column: the image positions, or cross-attention keys (Mllama).
        self._cross = data.columns is not None
        self._cols = torch.nonzero(is_image).flatten() if data.columns is None else data.columns
        self._row_of = torch.full((len(data.token_ids),), -1, dtype=torch.long)
        self._row_of[self._rows] = torch.arange(self._rows.numel())
        self._col_of = torch.full((int(self._cols.max()) + 1,), -1, dtype=torch.long)
        self._col_of[self._cols] = torch.arange(self._cols.numel())
        self._canvases: dict[int, Canvas] = {}
        # Gradients of what the capture kept, per query row: the attention, its text columns, the score rows' sums.
        self._grads, self._text_grads, self._score_row_grads = (
            GradientStore(sequence=sequence, live=live, computed=computed, row_of=self._row_of, what=what)
            for sequence, live, computed, what in (
                (data.grad, data.token_gradients, data.token_grads, "gradients: capture with store_grads=True"),
                (data.text_grad, data.text_token_gradients, {}, "gradients of its text columns"),
                (data.score_row_grad, data.score_row_gradients, {}, "gradients of its pre-softmax scores"),
            )
        )
        self._model: tuple[Any, Any] | None = None
        self._perturber: Perturber | None = None

    # -- what was recorded -------------------------------------------------------------------------------

    @property
    def token_ids(self) -> list[int]:
        """Every token id of the sequence, prompt and generated."""
        return self.data.token_ids

    @property
    def gen_start(self) -> int:
        """Position of the first generated token (0 when the capture had no generated_ids)."""
        return self.data.gen_start

    @property
    def image_token_id(self) -> int:
        """The id marking image positions."""
        return self.data.image_token_id

    @property
    def image_layouts(self) -> list[ImageLayout]:
        """Per image, where its tokens sit (views with [rows, cols] positions and boxes)."""
        return self.data.image_layouts

    @property
    def images(self) -> list[Image.Image]:
        """Per image, the original picture given to ``capture(images=...)``, else the processed one."""
        return self.data.images

    @property
    def gradients(self) -> GradientKind:
        """ "token" (per-token gradients computed on demand) or "sequence" (one whole-sequence gradient)."""
        return self.data.gradients

    @property
    def attn(self) -> torch.Tensor | None:
        """[layers, heads, R, I] attention probabilities, or None."""
        return self.data.attn

    @property
    def scores(self) -> torch.Tensor | None:
        """[layers, heads, R, I] pre-softmax scores, for the methods that need them, or None."""
        return self.data.scores

    @property
    def matrices(self) -> WholeMatrices | None:
        """Every layer's whole attention matrix, for the methods that need all rows, or None."""
        return self.data.matrices

    @property
    def layer_indices(self) -> list[int] | None:
        """The model's index of each captured layer (``layers=`` of the extractor); None: all, in order."""
        return self.data.layer_indices

    @property
    def head_indices(self) -> list[int] | None:
        """The model's index of each captured head (``heads=``); None: all, in order."""
        return self.data.head_indices

    @property
    def total_generated_tokens(self) -> int:
        """Number of generated tokens (every token when the capture had no generated_ids)."""
        return len(self.token_ids) - self.gen_start

    @property
    def total_images(self) -> int:
        """Number of images in the prompt."""
        return len(self.image_layouts)

    def axis_labels(self, layers: int, heads: int) -> tuple[list[int], list[int]]:
        """The model's layer and head indices for the axes of a [layers, heads, ...] map of this trace: the captured
        indices when the map has every captured layer (head), else positions 0.. (a pipeline selected some)."""

        def labels(chosen: list[int] | None, count: int) -> list[int]:
            return list(chosen) if chosen is not None and len(chosen) == count else list(range(count))

        return labels(self.layer_indices, layers), labels(self.head_indices, heads)

    @property
    def modes(self) -> tuple[str, ...]:
        """The string modes this trace can map: a subset of ("attn", "grad")."""
        return tuple(m for m, ok in zip(MODES, (self.attn is not None, self.data.has_grad), strict=True) if ok)

    @property
    def token_strings(self) -> list[str]:
        """Every token as the tokenizer spells it (``convert_ids_to_tokens``), or its id without a processor."""
        if self.data.token_strings is None:
            tokenizer = getattr(self.processor, "tokenizer", None)
            if tokenizer is None:
                return [str(i) for i in self.token_ids]
            self.data.token_strings = [str(t) for t in tokenizer.convert_ids_to_tokens(self.token_ids)]
        return list(self.data.token_strings)

    @property
    def columns(self) -> torch.Tensor:
        """LongTensor [I]: the key index of each captured column (image positions, or Mllama's vision features)."""
        return self._cols.clone()

    @property
    def captured_rows(self) -> torch.Tensor:
        """LongTensor [R]: the sequence position of each captured query row."""
        return self._rows.clone()

    @property
    def image_of(self) -> torch.Tensor:
        """LongTensor [T]: for each position, the index of the image whose token it holds, -1 for text."""
        out = torch.full((len(self.token_ids),), -1, dtype=torch.long)
        if self._cross:  # one placeholder token per image, in prompt order
            out[torch.nonzero(torch.tensor(self.image_mask)).flatten()] = torch.arange(self.total_images)
            return out
        for index, layout in enumerate(self.image_layouts):
            out[layout.positions] = index
            out[list(layout.extra_positions)] = index
        return out

    @property
    def image_mask(self) -> list[bool]:
        """Per position: whether it holds an image token."""
        return [t == self.image_token_id for t in self.token_ids]

    @property
    def special_mask(self) -> list[bool]:
        """Per position: whether it holds a special token (bos, eos, chat markers, image tokens)."""
        if self.data.special_mask is not None:
            return list(self.data.special_mask)
        special = {self.image_token_id}
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is not None:
            special |= set(getattr(tokenizer, "all_special_ids", []) or [])
            decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
            special |= {i for i, tok in decoder.items() if getattr(tok, "special", False)}
        return [t in special for t in self.token_ids]

    @property
    def text_positions(self) -> list[int]:
        """Positions that can be mapped with ``align="predicting"``: text tokens whose previous token is text."""
        text = self._row_of >= 0
        return [p for p in range(1, len(self.token_ids)) if text[p] and text[p - 1]]

    # -- the model, for the methods that run it again ----------------------------------------------------

    def attach(self, model: Any, processor: Any = None, *, check: bool = True) -> Trace:
        """Give the trace the model (and processor) it was captured from, for the methods that run the model again
        (``lib.occlusion``, ``lib.rise``, ``reliance``). ``capture`` attaches its own; a trace read from a file
        serves what was computed before it was saved, and the rest once attached. Nothing is copied, and the model
        is left as it was found after each pass.

        Args:
            model, processor: the model and processor of the capture; ``processor`` defaults to the trace's.
            check: re-run the processor's image step now and check it gives the capture's inputs (else at the
                first pass).

        Returns:
            The trace itself.

        Raises:
            ValueError: no processor, the trace keeps no processor inputs (saved by an older version), or the
                processor does not reproduce the capture's inputs from the trace's pictures.
        """
        processor = processor if processor is not None else self.processor
        if processor is None:
            raise ValueError("A trace read from a file has no processor: trace.attach(model, processor).")
        self._model = (model, processor)
        self._perturber = None
        if check:
            self.perturber()
        return self

    def perturber(self) -> Perturber:
        """The model's passes on changed pictures of this trace (the model attached, or the capture's)."""
        if self._perturber is None:
            if self._model is None:
                raise ValueError(
                    "This method runs the model again, and this trace has none: trace.attach(model, processor), or "
                    "Trace.load(path, model=model, processor=processor). What was computed before saving is served "
                    "without it."
                )
            if self.data.inputs is None:
                raise ValueError(
                    "This trace keeps no processor inputs (it was saved by an older version), so the model cannot be "
                    "run on it again: capture it again."
                )
            model, processor = self._model
            self._perturber = Perturber(model, processor, self.token_ids, self.data.inputs, self.images)
        return self._perturber

    def _answer_positions(self) -> torch.Tensor:
        """LongTensor of the positions a perturbation scores: the answer's text tokens (the prompt's too when the
        capture had no answer), each predicted by the position before it."""
        image = torch.tensor(self.image_mask)
        start = max(1, self.gen_start)
        return torch.tensor([p for p in range(start, len(self.token_ids)) if not image[p]], dtype=torch.long)

    def perturbations(self, image_index: int = 0) -> Perturbations:
        """What the methods that run the model read for one image: see ``core.perturb.Perturbations``."""
        self._check_image(image_index)
        grid = self._grid(image_index, None)
        return Perturbations(
            self.perturber,
            self.data.perturbations,
            image_index,
            (grid.rows, grid.cols),
            self._answer_positions(),
            len(self.token_ids),
        )

    def _perturbations_of_view(self, image_index: int, view: str | None) -> Perturbations:
        if view is not None:
            raise ValueError(
                "Methods that run the model hide cells of the whole picture: map them without view= (one grid over "
                "the whole picture)."
            )
        return self.perturbations(image_index)

    def reliance(self, baseline: str = "blur", threshold: float = math.log(2)) -> Reliance:
        """How much each answer token relies on the image(s): log p(token | pictures) - log p(token | every picture
        replaced by ``baseline``), from one batch of two teacher-forced passes, kept with the trace.

        Args:
            baseline: "blur" (a blurred copy of each picture), "mean" (its mean colour) or "noise".
            threshold: a token relies on the image when hiding it lowers its log-probability by more than this
                many nats (default log 2: its probability at least halves).
        """
        key = f"reliance baseline={baseline}"
        if key not in self.data.perturbations:
            perturber = self.perturber()
            positions = self._answer_positions()
            hidden = [baseline_picture(p, baseline) for p in perturber.pictures]
            scores = perturber.log_probs([perturber.pictures, hidden], positions)
            table = torch.full((2, len(self.token_ids)), float("nan"))
            table[:, positions] = scores.float()
            self.data.perturbations[key] = table
        table = self.data.perturbations[key]
        return Reliance(with_image=table[0], without_image=table[1], threshold=threshold)

    def image_share(
        self, token: int | Selector, image_index: int | None = None, *, align: Align = "predicting"
    ) -> torch.Tensor:
        """[layers, heads]: the share of the token's attention (a softmax row, summing to 1 over all keys) that
        lands on the image's tokens (every image's with ``image_index=None``); the text gets the rest. Read from
        the captured attention, nothing recomputed.

        Raises:
            ValueError: no attention captured, or a cross-attention model (its image layers attend only to the
                image, so the share is 1 there).
        """
        if self.attn is None:
            raise ValueError("The image share is read from the attention: capture with store_attns=True.")
        if self._cross:
            raise ValueError(
                "This model reaches the image through cross-attention layers, which attend to nothing else: their "
                "image share is 1. Compare maps between layers instead."
            )
        row = self._row(self.position(token), align)
        values = self.attn[:, :, row].float()
        if image_index is None:
            return values.sum(-1)
        self._check_image(image_index)
        columns = self._col_of[self.image_layouts[image_index].positions.reshape(-1)]
        return values[..., columns[columns >= 0]].sum(-1)

    def text_attribution(
        self,
        token: int | Selector,
        mode: Literal["attn", "grad", "attn*grad"] = "attn",
        *,
        align: Align = "predicting",
        layer_reduce: Reduction = "mean",
        head_reduce: Reduction = "mean",
    ) -> torch.Tensor:
        """Attribution to the text: how much the token draws on each text token of the sequence, prompt and answer.

        The token's query row (``align``) over the text positions: its attention ("attn"), the gradient of the
        token's log-probability with respect to it ("grad"), or their product ("attn*grad"), reduced over layers
        and heads like ``SaliencyMap.agg`` (both axes: "mean", "sum", "max", "min", "prod"). Needs a capture with
        ``text_columns=True``.

        Returns:
            FloatTensor [T]: per sequence position; NaN at image tokens and after the query (causal attention).
        """
        data = self.data
        if layer_reduce is None or head_reduce is None:
            raise ValueError("text_attribution reduces both layers and heads: pass a reduction for each, not None.")
        if data.text_columns is None:
            raise ValueError(
                "Attribution to the text needs the text columns: capture with "
                "SaliencyExtractor(model, processor, text_columns=True)."
            )
        if mode not in ("attn", "grad", "attn*grad"):
            raise ValueError(f"mode must be 'attn', 'grad' or 'attn*grad', not {mode!r}.")
        position = self.position(token)
        row = self._row(position, align)
        values = torch.ones(())
        if mode in ("attn", "attn*grad"):
            if data.text_attn is None:
                raise ValueError("This trace holds no attention: capture with store_attns=True.")
            values = data.text_attn[:, :, row].float()
        if mode in ("grad", "attn*grad"):
            self._check_gradients()
            values = values * self._text_grads.row(position, row).float()
        reduced = reduce_layers_heads(values[:, :, None, :], layer_reduce, head_reduce)  # [1, 1, 1, Tt]
        out = torch.full((len(self.token_ids),), float("nan"))
        query = int(self._rows[row])
        causal = data.text_columns <= query
        out[data.text_columns[causal]] = reduced.reshape(-1)[causal]
        return out

    # -- what a map costs --------------------------------------------------------------------------------

    def grad_ready(self, position: int) -> bool:
        """Whether the gradient for the token at absolute ``position`` is available without a backward pass."""
        return self._grads.ready(position)

    def ready(self, mode: Method, position: int) -> bool:
        """Whether ``map(AbsoluteIndex(position), mode)`` runs without a backward pass: the method declares no need
        of gradients, the gradients are the whole sequence's, or the token's were computed and kept.

        Per-token gradients of whole matrices (``lib.relevancy`` with ``gradients="token"``) are not kept, so a
        method that needs them is never ready.
        """
        needs = needs_of_all([mode])
        if needs.model:
            name = getattr(mode, "table_name", None)
            grid = self._grid(0, None)
            return f"{name} image=0 grid={grid.rows}x{grid.cols}" in self.data.perturbations
        if not needs.gradients or self.gradients == "sequence":
            return True
        if needs.matrices:
            return False
        if needs.scores and not self._score_row_grads.ready(position):
            return False
        return self._grads.ready(position)

    def missing(self, needs: Needs) -> list[str]:
        """What of ``needs`` this trace lacks, in words; empty when a method with these needs can run."""
        data = self.data
        lacks = []
        if needs.attention and data.attn is None:
            lacks.append("attention (store_attns=True)")
        if needs.gradients and not data.has_grad:
            lacks.append("gradients (store_grads=True)")
        if needs.scores and data.scores is None:
            lacks.append("pre-softmax scores")
        if needs.scores and needs.gradients and data.score_row_grad is None and data.score_row_gradients is None:
            lacks.append("the gradients of the pre-softmax scores")
        if needs.model and self._model is None and not data.perturbations:
            lacks.append("the model (trace.attach(model, processor))")
        if needs.matrices and data.matrices is None:
            lacks.append("every layer's whole attention matrix")
        matrices = data.matrices
        no_gradients = matrices is not None and matrices.grad is None and matrices.token_gradients is None
        if needs.matrices and needs.gradients and no_gradients:
            lacks.append("the gradients of the whole attention matrices")
        return lacks

    def check_needs(self, needs: Needs, name: str = "This method") -> None:
        """Raise a ValueError naming what the trace lacks for a method with ``needs``, and how to capture it."""
        lacks = self.missing(needs)
        if not lacks:
            return
        if needs.model and needs == Needs(model=True):
            how = "a captured trace keeps its model; attach one to a trace read from a file"
        elif needs.scores or needs.matrices:
            how = f"SaliencyExtractor(model, processor, methods=[{name}]) records what the method declares it needs"
        else:
            how = "capture with store_attns=True and store_grads=True"
        raise ValueError(f"{name} needs {', '.join(lacks)}, which this trace does not hold: {how}.")

    # -- maps --------------------------------------------------------------------------------------------

    def position(self, token: int | Selector) -> int:
        """The absolute sequence position of ``token`` (a generated-token index or a Selector).

        Raises:
            IndexError: the index is outside the generated tokens (or the sequence, for a selector).
        """
        if isinstance(token, bool) or not isinstance(token, int):
            if not callable(token):
                raise TypeError(f"token must be an int or a Selector, not {type(token).__name__}.")
            relative = token(self)
            position = self.gen_start + int(relative)
            if not 0 <= position < len(self.token_ids):
                raise IndexError(
                    f"The selector chose position {position}, outside the sequence of {len(self.token_ids)} tokens."
                )
            return position
        if not 0 <= token < self.total_generated_tokens:
            raise IndexError(
                f"Token index {token} is out of range: this trace has {self.total_generated_tokens} generated tokens "
                f"(0..{self.total_generated_tokens - 1}). Use selectors.AbsoluteIndex(position) for a prompt token."
            )
        return self.gen_start + token

    def map(
        self,
        token: int | Selector,
        mode: Method | None = None,
        image_index: int = 0,
        *,
        align: Align = "predicting",
        view: str | None = None,
    ) -> SaliencyMap:
        """The saliency map of one token over one image: [layers, heads, rows, cols].

        Args:
            token: index among the generated tokens (0-based), or a Selector (``AbsoluteIndex`` reaches prompt
                tokens).
            mode: "attn", "grad", a plain method ``fn(attn, grad) -> SaliencyMap`` such as ``lib.gradcam``, or a
                ``TraceMethod`` that declares what it needs (``lib.agcam``, ``lib.relevancy``).
                None: "attn" if attention was stored, else "grad".
            image_index: which image of the prompt.
            align: "predicting" uses the query row of the position before the token (the one that produced it);
                "token" uses the token's own row (the reference library's convention).
            view: one view of the image's layout by name (``"base"``, ``"high-res"``, a tile...), on its own grid.
                None: one grid over the whole picture, every view spread onto it (tiles at their place, coarse
                views spread over the fine cells they cover), so the map sums to the attention paid to the image.

        Raises:
            IndexError: token or image index out of range.
            ValueError: the trace lacks the data the mode needs, or the token has no such row.
        """
        return self.map_at(self.position(token), mode, image_index, align=align, view=view)

    def map_at(
        self,
        position: int,
        mode: Method | None = None,
        image_index: int = 0,
        *,
        align: Align = "predicting",
        view: str | None = None,
    ) -> SaliencyMap:
        """``map`` of the token at absolute sequence ``position`` (as ``map(AbsoluteIndex(position), ...)``)."""
        row = self._row(position, align)
        self._check_image(image_index)
        if mode is None:
            mode = self.modes[0]
        if isinstance(mode, str):
            if mode not in MODES:
                raise ValueError(
                    f"Unknown mode {mode!r}: use 'attn', 'grad', a method fn(attn, grad) or a TraceMethod."
                )
            return self._map(mode, position, row, image_index, view)
        if not callable(mode):
            raise TypeError(f"mode must be a string or a callable fn(attn, grad), not {type(mode).__name__}.")
        name = method_name(mode)
        if isinstance(mode, TraceMethod):
            self.check_needs(mode.needs, name)
            result = mode(self._method_inputs(position, row, align, image_index, view))
        else:
            self.check_needs(Needs(attention=True, gradients=True), name)
            result = mode(
                self._map("attn", position, row, image_index, view), self._map("grad", position, row, image_index, view)
            )
        if not isinstance(result, SaliencyMap):
            raise TypeError(
                f"The trace transform {name!r} returned {type(result).__name__}; it must return a SaliencyMap."
            )
        return result

    def maps(
        self,
        positions: Sequence[int],
        mode: str = "attn",
        image_index: int = 0,
        *,
        align: Align = "predicting",
        view: str | None = None,
        layer_reduce: Reduction | None = None,
        head_reduce: Reduction | None = None,
    ) -> torch.Tensor:
        """The maps of many tokens at once: [tokens, layers, heads, rows, cols], one gather for all of them.

        ``maps(ps, mode)[k]`` equals ``map(AbsoluteIndex(ps[k]), mode).tensor()``. Per-token gradients not
        computed yet are computed, several tokens per backward pass on an accelerator (see ``TokenGradients``).

        With ``layer_reduce`` or ``head_reduce`` ("mean", "sum", "max", "min", "prod"), that axis is reduced as
        ``SaliencyMap.agg`` reduces it: ``maps(ps, mode, layer_reduce=l, head_reduce=h)[k]`` equals
        ``map(AbsoluteIndex(ps[k]), mode).agg(l, h).tensor()`` up to float rounding, shape
        [tokens, 1 or layers, 1 or heads, rows, cols]. The reduction runs before the gather wherever the two
        commute (any reduction on one view's grid; "mean" and "sum" on a whole-picture canvas, whose spreading is
        linear), so the precompute of every token's aggregate reads each attention entry once.

        Args:
            positions: absolute sequence positions of text tokens.
            mode: "attn" or "grad".
            layer_reduce, head_reduce: reductions of the layer and head axes; None keeps the axis.
        """
        if mode not in MODES:
            raise ValueError(f"maps() takes mode 'attn' or 'grad', not {mode!r}; use map() for methods.")
        self._check_image(image_index)
        outside = [p for p in positions if not 0 <= p < len(self.token_ids)]
        if outside:
            raise IndexError(f"Positions {outside} are outside the sequence of {len(self.token_ids)} tokens.")
        check_reduction(layer_reduce, "layer_reduce")
        check_reduction(head_reduce, "head_reduce")
        rows = [self._row(p, align) for p in positions]
        grid = self._grid(image_index, view)
        if mode == "attn" and self.attn is None:
            raise ValueError("This trace holds no attention: capture with store_attns=True.")
        if mode == "grad" and positions:
            self._check_gradients()
            self._grads.ensure(positions)
        if layer_reduce is None and head_reduce is None:
            return grid.take(self._row_values(mode, positions, rows))
        # Reduce before the gather and the spreading where they commute: any reduction on a view's own grid, a
        # linear one (mean, sum) on a canvas. Else spread every layer and head, then reduce.
        early = grid.weights is None or {layer_reduce, head_reduce} <= LINEAR
        if mode == "attn" and early:
            return grid.take(self._reduced_attention(layer_reduce, head_reduce, torch.as_tensor(rows)))
        parts = []
        step = self._tokens_per_chunk()
        for start in range(0, max(1, len(positions)), step):
            values = self._row_values(mode, positions[start : start + step], rows[start : start + step])
            if early:
                reduced = reduce_layers_heads(values.unsqueeze(-2), layer_reduce, head_reduce)
                parts.append(grid.take(reduced.squeeze(-2)))
            else:
                parts.append(reduce_layers_heads(grid.take(values), layer_reduce, head_reduce))
        return torch.cat(parts)

    # -- image to text -----------------------------------------------------------------------------------

    def tokens_for(
        self,
        region: Region,
        image_index: int = 0,
        mode: Method = "attn",
        *,
        align: Align = "predicting",
        view: str | None = None,
        layer_reduce: Reduction = "mean",
        head_reduce: Reduction = "mean",
    ) -> torch.Tensor:
        """Image to text: how much each token's map puts on ``region`` of the image.

        Every text token's map (the same as ``map(token, mode, image_index, align=align, view=view)``, reduced over
        layers and heads) is summed over the region's cells.

        Args:
            region: a cell ``(row, col)`` of the map's grid, a box ``(left, top, right, bottom)`` in pixels of the
                picture (of the view's area with ``view=``), or a boolean mask [rows, cols] of the grid.
            mode: "attn", "grad" or any method; string modes run as one vectorised gather, methods once per token
                (per-token gradients cost a backward pass each the first time).

        Returns:
            FloatTensor [T]: per sequence position, its score; NaN where a token has no map (image tokens, and with
            ``align="predicting"`` the first token and tokens that follow an image token).
        """
        return tokens_for(self, region, image_index, mode, align, view, layer_reduce, head_reduce)

    def sinks(
        self,
        image_index: int = 0,
        *,
        view: str | None = None,
        share: float = 5.0,
        quantile: float = 0.25,
        max_queries: int = 64,
    ) -> torch.Tensor:
        """Image cells that draw attention whatever the text asks: attention sinks and register-like artifacts.

        For every layer and head, each text query's attention over the image is scaled to sum to 1; a cell is a
        sink when even its ``quantile`` (over the text queries) share exceeds ``share`` times the uniform share
        1 / cells, i.e. nearly every query, whatever its text, puts that much on it. Mask them with
        ``T.MaskSinks(trace.sinks())`` before normalising.

        Args:
            share: how many times the uniform share a sink's attention must exceed.
            quantile: the share of queries allowed below that (0.25: three queries in four must exceed it).
            max_queries: text queries used, evenly spread over the sequence (bounds the memory).

        Returns:
            BoolTensor [layers, heads, H, W] on the grid of ``map(..., view=view)``.
        """
        return sinks(self, image_index, view, share, quantile, max_queries)

    # -- files and display -------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the trace to one safetensors file (tensors, pictures and JSON metadata; no pickle).

        The file reopens with ``Trace.load`` anywhere, without the model or the processor. Per-token gradients are
        kept as far as they were computed: compute the ones you need first (``trace.maps(positions, "grad")``).
        """
        saved = replace(self.data, token_strings=self.token_strings, special_mask=self.special_mask)
        save_trace_data(saved, Path(path))

    @classmethod
    def load(cls, path: str | Path, *, model: Any = None, processor: Any = None) -> Trace:
        """Read a trace written by ``Trace.save``. Loading runs no code from the file.

        Args:
            model, processor: attach them (``attach``) for the methods that run the model again.

        Raises:
            ValueError: the file is not a trace, is truncated or corrupted, or was written by a newer version.
        """
        trace = cls(load_trace_data(Path(path)), processor=processor)
        if model is not None:
            trace.attach(model, processor)
        return trace

    def visualize_tokens(self, return_html: bool = False) -> str | None:
        """Show the sequence as an HTML token strip (prompt vs generated, image tokens skipped).

        Token text comes from the processor's tokenizer, or, for a trace without one (``Trace.load``), from the
        token strings the trace keeps.
        """
        from ..viz.tokens import KeptTokens, render_token_ids

        return render_token_ids(
            self.token_ids,
            self.processor
            if self.processor is not None
            else KeptTokens(self.token_ids, self.token_strings, self.special_mask),
            return_html=return_html,
            gen_start=self.gen_start,
            skip_tokens=self.image_token_id,
            only_number_generated=True,
        )

    def __repr__(self) -> str:
        shape = tuple(self.attn.shape[:2]) if self.attn is not None else None
        return (
            f"Trace(tokens={len(self.token_ids)}, generated={self.total_generated_tokens}, images={self.total_images}, "
            f"modes={self.modes}, layers_heads={shape}, gradients={self.gradients!r})"
        )

    # -- internals: rows, grids, values ------------------------------------------------------------------

    def _check_image(self, image_index: int) -> None:
        if not 0 <= image_index < self.total_images:
            raise IndexError(f"image_index {image_index} is out of range: this trace has {self.total_images} image(s).")

    def _check_gradients(self) -> None:
        if not self.data.has_grad:
            raise ValueError("This trace holds no gradients: capture with store_grads=True.")

    def _row(self, position: int, align: Align) -> int:
        """Index into the R axis of the query row that explains the token at ``position``."""
        if self.token_ids[position] == self.image_token_id:
            raise ValueError(f"Position {position} holds an image token; choose a text token.")
        if align == "token":
            return self._captured_row(position)
        if align != "predicting":
            raise ValueError(f"align must be 'predicting' or 'token', not {align!r}.")
        if position == 0:
            raise ValueError("The first token is predicted by no query; map it with align='token'.")
        if self.token_ids[position - 1] == self.image_token_id:
            raise ValueError(
                f"The token at position {position} is predicted by an image token's query, whose row is not "
                "captured; map it with align='token'."
            )
        return self._captured_row(position - 1)

    def _captured_row(self, position: int) -> int:
        """Index into the R axis of the text query at ``position``."""
        row = int(self._row_of[position])
        if row < 0:
            raise ValueError(
                f"The query row of position {position} was not captured: the capture kept only the answer's rows "
                "(rows='answer'). Capture with rows='text' (the default) to map prompt tokens."
            )
        return row

    def _grid(self, image_index: int, view: str | None) -> Canvas:
        """The grid one image's columns are put on (``Canvas.take``), its positions read as captured columns.

        With ``view=None`` the grid covers the whole picture and every view is spread onto it (see
        ``layouts.canvas``); with a view's name, that view's own grid. A plain layout's grid is a view of the values
        (no copy).
        """
        grid = self._canvases.get(image_index) if view is None else None
        if grid is None:
            layout = self.image_layouts[image_index]
            grid = Canvas.of_view(layout.view(view)) if view is not None or is_plain(layout) else canvas(layout)
            grid = replace(grid, positions=self._col_of[grid.positions])
            if view is None:
                self._canvases[image_index] = grid
        return grid

    def _gradient_row(self, position: int, row: int) -> torch.Tensor:
        """Gradient [layers, heads, I] on query ``row`` for the token at ``position``."""
        self._check_gradients()
        return self._grads.row(position, row)

    def _map(self, kind: str, position: int, row: int, image_index: int, view: str | None) -> SaliencyMap:
        if kind == "attn":
            if self.attn is None:
                raise ValueError("This trace holds no attention: capture with store_attns=True.")
            values = self.attn[:, :, row]
        else:
            values = self._gradient_row(position, row)
        return SaliencyMap(self._grid(image_index, view).take(values.float()))

    def _row_values(self, mode: str, positions: Sequence[int], rows: Sequence[int]) -> torch.Tensor:
        """[tokens, layers, heads, I] float: the attention or the (computed) gradient on each token's row."""
        if mode == "attn":
            assert self.attn is not None
            index = torch.as_tensor(rows, dtype=torch.long)
            return self.attn.index_select(2, index).permute(2, 0, 1, 3).float()
        if not positions:
            return torch.zeros(0, *self._grads.shape())
        return torch.stack([self._gradient_row(p, r) for p, r in zip(positions, rows, strict=True)]).float()

    def _tokens_per_chunk(self) -> int:
        """How many tokens' [layers, heads, I] float rows fill ``REDUCE_CHUNK_BYTES``."""
        per_token = self.attn[:, :, 0].numel() if self.attn is not None else math.prod(self._grads.shape())
        return max(1, REDUCE_CHUNK_BYTES // (4 * max(1, per_token)))

    def _reduced_attention(
        self, layer_reduce: Reduction | None, head_reduce: Reduction | None, rows: torch.Tensor
    ) -> torch.Tensor:
        """[tokens, 1 or layers, 1 or heads, I]: the reduced float attention on query ``rows``.

        When the rows are most of the captured ones, every row is reduced where it lies (a read of the attention,
        no gathered copy) and the wanted rows are picked from the small result; else the rows are gathered first.
        Either way ``REDUCE_CHUNK_BYTES`` of rows at a time.
        """
        assert self.attn is not None

        def reduce(values: torch.Tensor) -> torch.Tensor:
            return reduce_layers_heads(values.float(), layer_reduce, head_reduce)

        step = self._tokens_per_chunk()
        total = self.attn.shape[2]
        if rows.numel() * 2 < total:
            parts = [reduce(self.attn.index_select(2, chunk)) for chunk in rows.long().split(step)]
            return torch.cat(parts, dim=2).permute(2, 0, 1, 3)
        parts = [reduce(self.attn[:, :, start : start + step]) for start in range(0, total, step)]
        return torch.cat(parts, dim=2).index_select(2, rows.long()).permute(2, 0, 1, 3)

    def _method_inputs(self, position: int, row: int, align: Align, image_index: int, view: str | None) -> MethodInputs:
        """What a TraceMethod may read for the token at ``position`` explained by text row ``row``."""
        grid = self._grid(image_index, view)

        def spatial(values: torch.Tensor) -> SaliencyMap:
            return SaliencyMap(grid.take(values.float()))

        def score_grad() -> SaliencyMap:
            if self.attn is None or self.scores is None:
                raise ValueError("The score gradient needs the attention and the scores of the trace.")
            attn = self.attn[:, :, row].float()
            row_sum = self._score_row_grads.row(position, row).float()[..., None]
            return spatial(attn * (self._gradient_row(position, row).float() - row_sum))

        def matrices() -> list[LayerMatrices]:
            whole = self.matrices
            if whole is None:
                raise ValueError("This trace holds no whole attention matrices.")
            grads = whole.gradients_for(position)
            return [
                LayerMatrices(kind, attn.float(), None if grads is None else grads[i].float())  # type: ignore[arg-type]
                for i, (kind, attn) in enumerate(zip(whole.kinds, whole.attn, strict=True))
            ]

        offset = len(self.token_ids) if self._cross else 0

        def image_map(values: torch.Tensor) -> SaliencyMap:
            return spatial(values[..., offset + self._cols])

        return MethodInputs(
            position=position,
            query=position if align == "token" else position - 1,
            text_length=len(self.token_ids),
            sources={
                "attn": lambda: self._map("attn", position, row, image_index, view),
                "grad": lambda: self._map("grad", position, row, image_index, view),
                "scores": lambda: spatial(self.scores[:, :, row]),  # type: ignore[index]
                "score_grad": score_grad,
                "matrices": matrices,
                "perturbation": lambda: self._perturbations_of_view(image_index, view),
            },
            image_map=image_map,
        )
