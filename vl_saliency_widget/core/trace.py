"""Trace: what a capture recorded, and the maps computed from it."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from PIL import Image

from ..layouts import ImageLayout
from ..layouts.canvas import Canvas, canvas, is_plain
from .map import SaliencyMap
from .method import LayerMatrices, Method, MethodInputs, Needs, TraceMethod, method_name, needs_of_all
from .regions import Region, region_mask

if TYPE_CHECKING:
    from ..selectors import Selector
    from ..transforms.layers import Aggregate, Reduction

Align = Literal["predicting", "token"]
MODES = ("attn", "grad")
REDUCE_CHUNK_BYTES = 64 * 2**20
"""``Trace.maps`` reduces the attention of this many float32 bytes of query rows at a time."""


@contextlib.contextmanager
def _autograd() -> Iterator[None]:
    """Autograd on for the block, also inside the caller's ``torch.no_grad()`` (a notebook cell may wrap a whole
    analysis in one); ``torch.inference_mode()`` cannot be left from inside, so it gets a clear error."""
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            "Per-token gradients are computed when first asked for, and this happened inside torch.inference_mode(), "
            "which turns autograd off for good. Ask for the map outside the inference_mode block (torch.no_grad() "
            "is fine)."
        )
    with torch.enable_grad():
        yield


@dataclass
class TokenGradients:
    """Per-token gradients computed on demand from a retained autograd graph.

    The gradient for the token at position p is d log p(token_p | tokens before p) / dA on the kept entries.

    Attributes:
        logits: [K, vocab] logits of the capture's forward pass, still attached to its graph: every position's
            (K = T), or only those of the positions listed in ``logit_positions``.
        probes: per layer, the zero probe [heads, R, I] the attention outputs depend on.
        token_ids: LongTensor [T] on the logits' device.
        logit_positions: LongTensor [K] of the positions whose logits were kept (the capture computes the output
            head only on the positions that predict a text token); None: every position.
        batch_size: tokens per backward pass when many are asked for (``compute_many``); None: ``BATCH_SIZE`` on an
            accelerator, 1 on the CPU, whose backward is bound by arithmetic that a batch only multiplies (batched,
            a token cost 1.0-1.5x one alone there; see ``bench``). ``Trace.maps`` retries a pass that runs out of
            memory with half the tokens.
    """

    logits: torch.Tensor
    probes: list[torch.Tensor]
    token_ids: torch.Tensor
    batch_size: int | None = None
    logit_positions: torch.Tensor | None = None

    BATCH_SIZE = 8

    def log_probs(self, positions: Sequence[int]) -> torch.Tensor:
        """[tokens]: log p(token at p | tokens before p) for each of ``positions``, attached to the graph."""
        index = torch.as_tensor(list(positions), dtype=torch.long, device=self.logits.device)
        rows = index - 1
        if self.logit_positions is not None:
            kept = self.logit_positions.to(self.logits.device)
            found = torch.searchsorted(kept, rows).clamp(max=kept.numel() - 1)
            missing = [int(p) for p, ok in zip(index.tolist(), (kept[found] == rows).tolist(), strict=True) if not ok]
            if missing:
                raise ValueError(
                    f"Positions {missing} hold image tokens: the capture keeps the logits that predict text tokens, "
                    "and an image token has no log-probability to differentiate."
                )
            rows = found
        log_probs = torch.log_softmax(self.logits[rows].float(), dim=-1)
        return log_probs.gather(1, self.token_ids[index][:, None])[:, 0]

    def compute(self, position: int) -> torch.Tensor:
        """Gradient of the log-probability of the token at ``position``: [layers, heads, R, I] on the CPU."""
        return self.compute_many([position])[0]

    def compute_many(self, positions: Sequence[int]) -> torch.Tensor:
        """Gradients of the log-probabilities of the tokens at ``positions``: [tokens, layers, heads, R, I] on the CPU.

        One backward pass for all of them, vectorized over a one-hot batch of output gradients
        (``is_grads_batched``): each row equals ``compute`` of its token. Callers bound the batch's memory (about
        ``len(positions)`` times one backward's) by asking for ``batch_size`` tokens at a time.
        """
        if len(positions) == 1:
            return torch.stack(self.per_probe(positions[0]))[None].cpu()
        with _autograd():
            targets = self.log_probs(positions)
            one_hot = torch.eye(len(positions), dtype=targets.dtype, device=targets.device)
            batched = torch.autograd.grad(
                targets, self.probes, one_hot, retain_graph=True, allow_unused=True, is_grads_batched=True
            )
        return torch.stack(
            [
                p.new_zeros(len(positions), *p.shape) if g is None else g
                for g, p in zip(batched, self.probes, strict=True)
            ],
            dim=1,
        ).cpu()

    def per_probe(self, position: int) -> list[torch.Tensor]:
        """Per probe, the gradient of the log-probability of the token at ``position`` (zeros where it does not
        depend on the probe), on the probes' devices; the probes may differ in shape."""
        with _autograd():
            target = self.log_probs([position])[0]
            grads = torch.autograd.grad(target, self.probes, retain_graph=True, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, self.probes, strict=True)]

    def tokens_per_pass(self) -> int:
        """How many tokens ``compute_many`` should be given at a time (``batch_size``, resolved)."""
        if self.batch_size is not None:
            return max(1, self.batch_size)
        return 1 if self.logits.device.type == "cpu" else self.BATCH_SIZE


@dataclass
class FullMatrices:
    """Every layer's whole attention matrix, for the methods that need all rows (relevancy, rollout).

    Attributes:
        attn: per layer in the order the layers ran, [heads, T, keys] on the CPU.
        kinds: per layer, "self" (keys: the sequence) or "cross" (keys: the image features).
        grad: per layer, the whole-sequence gradient [heads, T, keys] (``gradients="sequence"``), or None.
        token_gradients: with ``gradients="token"``, the logits still attached to the capture's graph and, as its
            probes, per layer the zero probe [heads, T, keys] the attention outputs depend on; else None.
    """

    attn: list[torch.Tensor]
    kinds: list[str]
    grad: list[torch.Tensor] | None = None
    token_gradients: TokenGradients | None = None

    def gradients_for(self, position: int) -> list[torch.Tensor] | None:
        """Per layer, the gradient [heads, T, keys] of the token at ``position`` (or the sequence's), else None."""
        if self.grad is not None:
            return self.grad
        if self.token_gradients is None:
            return None
        if position == 0:
            raise ValueError("The first token has no log-probability, so no gradient; choose a later token.")
        return [g.cpu() for g in self.token_gradients.per_probe(position)]


class _KeptTokens:
    """A tokenizer stand-in that spells a trace's own token strings (a loaded trace has no processor)."""

    def __init__(self, trace: Trace) -> None:
        self._strings = dict(zip(trace.token_ids, trace.token_strings, strict=True))
        self.all_special_ids = [i for i, special in zip(trace.token_ids, trace.special_mask, strict=True) if special]

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        return [self._strings[i] for i in ids]


class Trace:
    """Attention and gradients recorded for one prompt and its answer.

    Attention and gradients are kept for text-query rows x image-key columns: ``[layers, heads, R, I]``, where
    R counts the text (non-image) positions of the sequence and I the image-token positions.

    Attributes:
        token_ids: every token id of the sequence, prompt and generated.
        gen_start: position of the first generated token (0 when the capture had no generated_ids).
        processor: the processor used, or None.
        image_token_id: the id marking image positions.
        image_layouts: per image, where its tokens sit (views with [rows, cols] positions and boxes).
        images: per image, the original picture given to ``capture(images=...)``, else the processed one.
        gradients: "token" (per-token gradients computed on demand) or "sequence" (one whole-sequence gradient).
        layer_indices: the model's index of each captured layer (``layers=`` of the extractor); None: all, in order.
        rows: LongTensor [R] of the captured query positions when the capture kept only some (``rows="answer"``);
            None: every text position.
        head_indices: the model's index of each captured head (``heads=``); None: all, in order.

    Methods that ask for more (see ``core.method.Needs``) find it in ``scores`` ([layers, heads, R, I] pre-softmax
    scores), ``row_grad`` ([layers, heads, R], per row ``sum_k A_ik dL/dA_ik`` over all keys, for the score
    gradients; or ``row_gradients`` computing it per token) and ``full`` (every layer's whole matrix).

    ``columns`` (LongTensor [I]) gives the key index of each captured column when the image is not in the
    sequence (cross-attention models); by default the columns are the image-token positions. ``token_strings``,
    ``special_mask``, ``grad_rows`` (per-token gradient rows already computed) and ``grads_captured`` restore a
    saved trace.
    """

    def __init__(
        self,
        *,
        token_ids: list[int],
        gen_start: int,
        image_token_id: int,
        image_layouts: list[ImageLayout],
        images: list[Image.Image],
        attn: torch.Tensor | None,
        grad: torch.Tensor | None = None,
        token_gradients: TokenGradients | None = None,
        processor: Any = None,
        gradients: Literal["token", "sequence"] = "token",
        columns: torch.Tensor | None = None,
        token_strings: list[str] | None = None,
        special_mask: list[bool] | None = None,
        grad_rows: dict[tuple[int, int], torch.Tensor] | None = None,
        grads_captured: bool = False,
        scores: torch.Tensor | None = None,
        row_grad: torch.Tensor | None = None,
        row_gradients: TokenGradients | None = None,
        full: FullMatrices | None = None,
        layer_indices: Sequence[int] | None = None,
        head_indices: Sequence[int] | None = None,
        rows: torch.Tensor | None = None,
    ):
        self.token_ids = list(token_ids)
        self.gen_start = gen_start
        self.image_token_id = image_token_id
        self.image_layouts = image_layouts
        self.images = images
        self.processor = processor
        self.gradients = gradients
        is_image = torch.tensor(self.token_ids) == image_token_id
        # The captured query rows: every text position, or those a capture with rows="answer" kept.
        self._rows = torch.nonzero(~is_image).flatten() if rows is None else rows.clone()
        self._all_rows = rows is None
        # The key index of each captured column: the image positions, or cross-attention keys (Mllama).
        self._cross = columns is not None
        self._cols = torch.nonzero(is_image).flatten() if columns is None else columns
        self._row_of = torch.full((len(self.token_ids),), -1, dtype=torch.long)
        self._row_of[self._rows] = torch.arange(self._rows.numel())
        self._col_of = torch.full((int(self._cols.max()) + 1,), -1, dtype=torch.long)
        self._col_of[self._cols] = torch.arange(self._cols.numel())
        self.attn = attn
        self._grad = grad
        self._token_gradients = token_gradients
        self._grad_rows: dict[tuple[int, int], torch.Tensor] = dict(grad_rows or {})
        # Gradients were captured, though a trace read from a file holds only the rows computed before saving.
        self._has_grad = grads_captured or grad is not None or token_gradients is not None or bool(self._grad_rows)
        self._canvases: dict[int, Canvas] = {}
        self.scores = scores
        self._row_grad = row_grad
        self._row_gradients = row_gradients
        self._row_grad_cache: dict[int, torch.Tensor] = {}
        self.full = full
        self.layer_indices = list(layer_indices) if layer_indices is not None else None
        self.head_indices = list(head_indices) if head_indices is not None else None
        self._token_strings = list(token_strings) if token_strings is not None else None
        self._special_mask = list(special_mask) if special_mask is not None else None
        if attn is None and not self._has_grad:
            raise ValueError("A trace needs attention or gradients; capture with store_attns or store_grads.")

    # -- metadata ---------------------------------------------------------------------------------------

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
        return tuple(m for m, ok in zip(MODES, (self.attn is not None, self._has_grad), strict=True) if ok)

    @property
    def token_strings(self) -> list[str]:
        """Every token as the tokenizer spells it (``convert_ids_to_tokens``), or its id without a processor."""
        if self._token_strings is None:
            tokenizer = getattr(self.processor, "tokenizer", None)
            if tokenizer is None:
                return [str(i) for i in self.token_ids]
            self._token_strings = [str(t) for t in tokenizer.convert_ids_to_tokens(self.token_ids)]
        return list(self._token_strings)

    @property
    def columns(self) -> torch.Tensor:
        """LongTensor [I]: the key index of each captured column (image positions, or Mllama's vision features)."""
        return self._cols.clone()

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
        if self._special_mask is not None:
            return list(self._special_mask)
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

    def grad_ready(self, position: int) -> bool:
        """Whether the gradient for the token at absolute ``position`` is available without a backward pass."""
        if self._grad is not None:
            return True
        # Computing a token's gradient caches its own row and its predecessor's (see _grad_row).
        rows = (self._row_of[position], self._row_of[position - 1]) if position > 0 else (self._row_of[position],)
        return any((position, int(row)) in self._grad_rows for row in rows if row >= 0)

    def ready(self, mode: Method, position: int) -> bool:
        """Whether ``map(AbsoluteIndex(position), mode)`` runs without a backward pass: the method declares no need
        of gradients, the gradients are the whole sequence's, or the token's were computed and kept.

        Per-token gradients of whole matrices (``lib.relevancy`` with ``gradients="token"``) are not kept, so a
        method that needs them is never ready.
        """
        needs = needs_of_all([mode])
        if not needs.gradients or self.gradients == "sequence":
            return True
        if needs.all_rows:
            return False
        if needs.scores and self._row_grad is None and position not in self._row_grad_cache:
            return False
        return self.grad_ready(position)

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

    @property
    def captured_rows(self) -> torch.Tensor:
        """LongTensor [R]: the sequence position of each captured query row."""
        return self._rows.clone()

    def _grid(self, image_index: int, view: str | None) -> Canvas:
        """The grid that ``_spatial`` puts one image's columns on, its positions read as captured columns."""
        grid = self._canvases.get(image_index) if view is None else None
        if grid is None:
            layout = self.image_layouts[image_index]
            grid = Canvas.of_view(layout.view(view)) if view is not None or is_plain(layout) else canvas(layout)
            grid = replace(grid, positions=self._col_of[grid.positions])
            if view is None:
                self._canvases[image_index] = grid
        return grid

    def _spatial(self, values: torch.Tensor, image_index: int, view: str | None) -> torch.Tensor:
        """[..., I] values of query rows -> [..., rows, cols] over one image.

        With ``view=None`` the grid covers the whole picture and every view is spread onto it (see
        ``layouts.canvas``); with a view's name, that view's own grid. A plain layout's grid is a view of ``values``
        (no copy).
        """
        return self._grid(image_index, view).take(values)

    def _grad_row(self, position: int, row: int) -> torch.Tensor:
        """Gradient [layers, heads, I] on query ``row`` for the token at ``position``."""
        if self._grad is not None:
            return self._grad[:, :, row]
        if not self._has_grad:
            raise ValueError("This trace holds no gradients: capture with store_grads=True.")
        key = (position, row)
        if key not in self._grad_rows:
            self._compute_grads([position])
        return self._grad_rows[key]

    def _compute_grads(self, positions: Sequence[int]) -> None:
        """Compute the gradients of the tokens at ``positions`` and keep their rows: each token's own query row and
        its predecessor's (the rows ``align="token"`` and ``"predicting"`` read), ``batch_size`` tokens per pass."""
        gradients = self._token_gradients
        if gradients is None:
            raise ValueError(
                f"The gradient of the token at position {positions[0]} was not computed before this trace was saved, "
                "and a trace read from a file cannot compute it. Before saving, compute the gradients you need "
                "(trace.maps(trace.text_positions, 'grad') computes them all), or capture again."
            )
        if 0 in positions:
            raise ValueError("The first token has no log-probability, so no gradient; choose a later token.")
        size, start = gradients.tokens_per_pass(), 0
        while start < len(positions):
            chunk = positions[start : start + size]
            try:
                batch = gradients.compute_many(chunk)
            except torch.OutOfMemoryError:
                if size == 1:
                    raise
                size //= 2  # a batched pass needs about ``size`` times one pass's memory: try fewer tokens
                continue
            for position, full in zip(chunk, batch, strict=True):
                for row in {int(self._row_of[position]), int(self._row_of[position - 1])} - {-1}:
                    self._grad_rows[(position, row)] = full[:, :, row].clone()
            start += len(chunk)

    def _map(self, kind: str, position: int, row: int, image_index: int, view: str | None) -> SaliencyMap:
        if kind == "attn":
            if self.attn is None:
                raise ValueError("This trace holds no attention: capture with store_attns=True.")
            values = self.attn[:, :, row]
        else:
            values = self._grad_row(position, row)
        return SaliencyMap(self._spatial(values.float(), image_index, view))

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
        return self._map_at(self.position(token), mode, image_index, align, view)

    def _map_at(
        self, position: int, mode: Method | None, image_index: int, align: Align, view: str | None
    ) -> SaliencyMap:
        """``map`` of the token at absolute ``position``."""
        row = self._row(position, align)
        if not 0 <= image_index < self.total_images:
            raise IndexError(f"image_index {image_index} is out of range: this trace has {self.total_images} image(s).")
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

    def missing(self, needs: Needs) -> list[str]:
        """What of ``needs`` this trace lacks, in words; empty when a method with these needs can run."""
        lacks = []
        if needs.attention and self.attn is None:
            lacks.append("attention (store_attns=True)")
        if needs.gradients and not self._has_grad:
            lacks.append("gradients (store_grads=True)")
        if needs.scores and self.scores is None:
            lacks.append("pre-softmax scores")
        if needs.scores and needs.gradients and self._row_grad is None and self._row_gradients is None:
            lacks.append("the gradients of the pre-softmax scores")
        if needs.all_rows and self.full is None:
            lacks.append("every layer's whole attention matrix")
        full = self.full
        if (
            needs.all_rows
            and needs.gradients
            and full is not None
            and full.grad is None
            and full.token_gradients is None
        ):
            lacks.append("the gradients of the whole attention matrices")
        return lacks

    def check_needs(self, needs: Needs, name: str = "This method") -> None:
        """Raise a ValueError naming what the trace lacks for a method with ``needs``, and how to capture it."""
        lacks = self.missing(needs)
        if not lacks:
            return
        if needs.scores or needs.all_rows:
            how = f"SaliencyExtractor(model, processor, methods=[{name}]) records what the method declares it needs"
        else:
            how = "capture with store_attns=True and store_grads=True"
        raise ValueError(f"{name} needs {', '.join(lacks)}, which this trace does not hold: {how}.")

    def _method_inputs(self, position: int, row: int, align: Align, image_index: int, view: str | None) -> MethodInputs:
        """What a TraceMethod may read for the token at ``position`` explained by text row ``row``."""

        def spatial(values: torch.Tensor) -> SaliencyMap:
            return SaliencyMap(self._spatial(values.float(), image_index, view))

        def score_grad() -> SaliencyMap:
            if self.attn is None or self.scores is None:
                raise ValueError("The score gradient needs the attention and the scores of the trace.")
            attn = self.attn[:, :, row].float()
            row_sum = self._row_grad_row(position, row)[..., None]
            return spatial(attn * (self._grad_row(position, row).float() - row_sum))

        def matrices() -> list[LayerMatrices]:
            if self.full is None:
                raise ValueError("This trace holds no whole attention matrices.")
            grads = self.full.gradients_for(position)
            return [
                LayerMatrices(kind, attn.float(), None if grads is None else grads[i].float())  # type: ignore[arg-type]
                for i, (kind, attn) in enumerate(zip(self.full.kinds, self.full.attn, strict=True))
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
            },
            image_map=image_map,
        )

    def _row_grad_row(self, position: int, row: int) -> torch.Tensor:
        """[layers, heads]: ``sum_k A_ik dL/dA_ik`` over every key of query ``row``, for the token at ``position``."""
        if self._row_grad is not None:
            return self._row_grad[:, :, row].float()
        if self._row_gradients is None:
            raise ValueError("This trace holds no gradients of its pre-softmax scores.")
        if position not in self._row_grad_cache:
            self._row_grad_cache[position] = self._row_gradients.compute(position)
        return self._row_grad_cache[position][:, :, row].float()

    def save(self, path: str | Path) -> None:
        """Write the trace to one safetensors file (tensors, pictures and JSON metadata; no pickle).

        The file reopens with ``Trace.load`` anywhere, without the model or the processor. Per-token gradients are
        kept as far as they were computed: compute the ones you need first (``trace.maps(positions, "grad")``).
        """
        from .storage import save_trace

        save_trace(self, Path(path))

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        """Read a trace written by ``Trace.save``. Loading runs no code from the file.

        Raises:
            ValueError: the file is not a trace, is truncated or corrupted, or was written by a newer version.
        """
        from .storage import load_trace

        return load_trace(Path(path))

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
        from ..transforms.layers import Aggregate

        if mode not in MODES:
            raise ValueError(f"maps() takes mode 'attn' or 'grad', not {mode!r}; use map() for methods.")
        if not 0 <= image_index < self.total_images:
            raise IndexError(f"image_index {image_index} is out of range: this trace has {self.total_images} image(s).")
        outside = [p for p in positions if not 0 <= p < len(self.token_ids)]
        if outside:
            raise IndexError(f"Positions {outside} are outside the sequence of {len(self.token_ids)} tokens.")
        reduce = Aggregate(layer_reduce=layer_reduce, head_reduce=head_reduce)
        rows = [self._row(p, align) for p in positions]
        grid = self._grid(image_index, view)
        if mode == "attn" and self.attn is None:
            raise ValueError("This trace holds no attention: capture with store_attns=True.")
        if mode == "grad" and self._grad is None and positions:
            missing = [p for p, r in zip(positions, rows, strict=True) if (p, r) not in self._grad_rows]
            if missing:
                self._compute_grads(list(dict.fromkeys(missing)))
        if layer_reduce is None and head_reduce is None:
            return grid.take(self._row_values(mode, positions, rows))
        # Reduce before the gather and the spreading where they commute: any reduction on a view's own grid, a
        # linear one (mean, sum) on a canvas. Else spread every layer and head, then reduce.
        early = grid.weights is None or {layer_reduce, head_reduce} <= {"mean", "sum", None}
        if mode == "attn" and early:
            return grid.take(self._reduced_attention(reduce, torch.as_tensor(rows, dtype=torch.long)))
        parts = []
        step = self._tokens_per_chunk()
        for start in range(0, max(1, len(positions)), step):
            values = self._row_values(mode, positions[start : start + step], rows[start : start + step])
            if early:
                parts.append(grid.take(reduce.reduce(values.unsqueeze(-2)).squeeze(-2)))
            else:
                parts.append(reduce.reduce(grid.take(values)))
        return torch.cat(parts)

    def _row_values(self, mode: str, positions: Sequence[int], rows: Sequence[int]) -> torch.Tensor:
        """[tokens, layers, heads, I] float: the attention or the (computed) gradient on each token's row."""
        if mode == "attn":
            assert self.attn is not None
            index = torch.as_tensor(rows, dtype=torch.long)
            return self.attn.index_select(2, index).permute(2, 0, 1, 3).float()
        if not positions:
            return torch.zeros(0, *self._grad_shape())
        return torch.stack([self._grad_row(p, r) for p, r in zip(positions, rows, strict=True)]).float()

    def _tokens_per_chunk(self) -> int:
        """How many tokens' [layers, heads, I] float rows fill ``REDUCE_CHUNK_BYTES``."""
        per_token = self.attn[:, :, 0].numel() if self.attn is not None else math.prod(self._grad_shape())
        return max(1, REDUCE_CHUNK_BYTES // (4 * max(1, per_token)))

    def _reduced_attention(self, reduce: Aggregate, rows: torch.Tensor) -> torch.Tensor:
        """[tokens, 1 or layers, 1 or heads, I]: ``reduce`` of the float attention on query ``rows``.

        When the rows are most of the captured ones, every row is reduced where it lies (a read of the attention,
        no gathered copy) and the wanted rows are picked from the small result; else the rows are gathered first.
        Either way ``REDUCE_CHUNK_BYTES`` of rows at a time.
        """
        assert self.attn is not None
        step = self._tokens_per_chunk()
        total = self.attn.shape[2]
        if rows.numel() * 2 < total:
            parts = [reduce.reduce(self.attn.index_select(2, chunk).float()) for chunk in rows.split(step)]
            return torch.cat(parts, dim=2).permute(2, 0, 1, 3)
        parts = [reduce.reduce(self.attn[:, :, start : start + step].float()) for start in range(0, total, step)]
        return torch.cat(parts, dim=2).index_select(2, rows).permute(2, 0, 1, 3)

    def _grad_shape(self) -> tuple[int, int, int]:
        """(layers, heads, I) of a gradient row."""
        if self._grad is not None:
            return (self._grad.shape[0], self._grad.shape[1], self._grad.shape[3])
        if self._token_gradients is not None:
            probes = self._token_gradients.probes
            return (len(probes), probes[0].shape[0], probes[0].shape[2])
        if self._grad_rows:
            return tuple(next(iter(self._grad_rows.values())).shape)  # type: ignore[return-value]
        raise ValueError("This trace holds no gradients: capture with store_grads=True.")

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
        from ..transforms.layers import Aggregate

        if not 0 <= image_index < self.total_images:
            raise IndexError(f"image_index {image_index} is out of range: this trace has {self.total_images} image(s).")
        if align == "predicting":
            positions = self.text_positions
        elif align == "token":
            positions = self._rows.tolist()
        else:
            raise ValueError(f"align must be 'predicting' or 'token', not {align!r}.")
        if isinstance(mode, str):
            values = self.maps(
                positions, mode, image_index, align=align, view=view, layer_reduce=layer_reduce, head_reduce=head_reduce
            )
        else:
            reduce = Aggregate(layer_reduce, head_reduce)
            values = torch.stack([reduce(self._map_at(p, mode, image_index, align, view)).tensor() for p in positions])
        layout = self.image_layouts[image_index]
        if view is None:
            size = layout.size
        else:
            left, top, right, bottom = layout.view(view).box
            size = (round(right - left), round(bottom - top))
            if isinstance(region, tuple) and len(region) == 4:
                region = (region[0] - left, region[1] - top, region[2] - left, region[3] - top)
        mask = region_mask(region, (values.shape[-2], values.shape[-1]), size)
        out = torch.full((len(self.token_ids),), float("nan"))
        out[torch.as_tensor(positions, dtype=torch.long)] = values[..., mask].sum(-1).reshape(len(positions)).float()
        return out

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
        if self.attn is None:
            raise ValueError("Finding sinks needs attention: capture with store_attns=True.")
        if not 0.0 <= quantile < 1.0 or share <= 0:
            raise ValueError(f"quantile must lie in [0, 1) and share be positive, not {quantile} and {share}.")
        rows = self._rows.tolist()
        step = max(1, len(rows) // max_queries)
        values = self.maps(rows[::step][:max_queries], "attn", image_index, align="token", view=view)
        cells = values.shape[-2] * values.shape[-1]
        scaled = values / values.sum(dim=(-2, -1), keepdim=True).clamp(min=1e-30)
        k = max(1, int(quantile * scaled.shape[0]) + 1) if quantile > 0 else 1
        low = scaled.kthvalue(min(k, scaled.shape[0]), dim=0).values
        return low > share / cells

    def visualize_tokens(self, return_html: bool = False) -> str | None:
        """Show the sequence as an HTML token strip (prompt vs generated, image tokens skipped).

        Token text comes from the processor's tokenizer, or, for a trace without one (``Trace.load``), from the
        token strings the trace keeps.
        """
        from ..viz import render_token_ids

        return render_token_ids(
            self.token_ids,
            self.processor if self.processor is not None else _KeptTokens(self),
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
