"""Gradients a trace keeps: per-token gradients computed on demand from the capture's graph, their cache, and the
whole attention matrices of the methods that need every row."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch


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

    The gradient for the token at position p is d log p(token_p | tokens before p) / d(probe), for each probe: the
    zero tensors a capture adds where it keeps values (attention entries [heads, R, I], score row sums
    [heads, R], whole matrices [heads, T, keys]).

    Attributes:
        logits: [K, vocab] logits of the capture's forward pass, still attached to its graph: every position's
            (K = T), or only those of the positions listed in ``logit_positions``.
        probes: per layer, the zero probe the kept values' gradients are read from.
        token_ids: LongTensor [T] on the logits' device.
        logit_positions: LongTensor [K] of the positions whose logits were kept (the capture computes the output
            head only on the positions that predict a text token); None: every position.
        batch_size: tokens per backward pass when many are asked for (``compute_many``); None: ``BATCH_SIZE`` on an
            accelerator, 1 on the CPU, whose backward is bound by arithmetic that a batch only multiplies (see
            ``bench``).
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
        """Gradient of the log-probability of the token at ``position``: [layers, *probe shape] on the CPU."""
        return self.compute_many([position])[0]

    def compute_many(self, positions: Sequence[int]) -> torch.Tensor:
        """Gradients of the log-probabilities of the tokens at ``positions``: [tokens, layers, *probe shape] on the
        CPU.

        One backward pass for all of them, vectorized over a one-hot batch of output gradients
        (``is_grads_batched``): each row equals ``compute`` of its token. Callers bound the batch's memory (about
        ``len(positions)`` times one backward's) by asking for ``tokens_per_pass()`` tokens at a time.
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


class GradientStore:
    """Gradients of kept values [layers, heads, R, ...] per query row: the whole sequence's, or per-token gradients
    computed the first time a token is asked for and kept two rows per token (its own query row and its
    predecessor's: the rows ``align="token"`` and ``"predicting"`` read).

    Args:
        sequence: [layers, heads, R, ...] the whole-sequence gradient (``gradients="sequence"``), or None.
        live: the capture's graph, for per-token gradients not computed yet; None for a trace read from a file.
        computed: {(position, row): [layers, heads, ...]} rows computed so far; the store adds to this dict.
        row_of: LongTensor [T]: each position's index on the R axis, -1 where its row was not captured.
        what: what the gradients are of, for error messages.
    """

    def __init__(
        self,
        *,
        sequence: torch.Tensor | None,
        live: TokenGradients | None,
        computed: dict[tuple[int, int], torch.Tensor],
        row_of: torch.Tensor,
        what: str,
    ) -> None:
        self.sequence = sequence
        self.live = live
        self.computed = computed
        self._row_of = row_of
        self._what = what

    def ready(self, position: int) -> bool:
        """Whether the token at ``position`` has its gradient without a backward pass."""
        if self.sequence is not None:
            return True
        return any((position, row) in self.computed for row in self._rows_of_token(position))

    def row(self, position: int, row: int) -> torch.Tensor:
        """Gradient [layers, heads, ...] on query ``row`` for the token at ``position``, computed if needed."""
        if self.sequence is not None:
            return self.sequence[:, :, row]
        if (position, row) not in self.computed:
            self.ensure([position])
        return self.computed[(position, row)]

    def ensure(self, positions: Sequence[int]) -> None:
        """Compute the gradients of the tokens at ``positions`` not computed yet, ``tokens_per_pass()`` tokens per
        backward pass; a pass that runs out of memory is retried with half the tokens."""
        if self.sequence is not None:
            return
        todo = list(dict.fromkeys(p for p in positions if not self.ready(p)))
        if not todo:
            return
        live = self.live
        if live is None:
            raise ValueError(
                f"The gradient of the token at position {todo[0]} was not computed before this trace was saved, "
                "and a trace read from a file cannot compute it. Before saving, compute the gradients you need "
                "(trace.maps(trace.text_positions, 'grad') computes them all), or capture again."
            )
        if 0 in todo:
            raise ValueError("The first token has no log-probability, so no gradient; choose a later token.")
        size, start = live.tokens_per_pass(), 0
        while start < len(todo):
            chunk = todo[start : start + size]
            try:
                batch = live.compute_many(chunk)
            except torch.OutOfMemoryError:
                if size == 1:
                    raise
                size //= 2  # a batched pass needs about ``size`` times one pass's memory: try fewer tokens
                continue
            for position, whole in zip(chunk, batch, strict=True):
                for row in self._rows_of_token(position):
                    self.computed[(position, row)] = whole[:, :, row].clone()
            start += len(chunk)

    def shape(self) -> tuple[int, ...]:
        """The shape of one row's gradient, [layers, heads, ...]."""
        if self.sequence is not None:
            return (*self.sequence.shape[:2], *self.sequence.shape[3:])
        if self.live is not None:
            probe = self.live.probes[0]
            return (len(self.live.probes), probe.shape[0], *probe.shape[2:])
        if self.computed:
            return tuple(next(iter(self.computed.values())).shape)
        raise ValueError(f"This trace holds no {self._what}.")

    def _rows_of_token(self, position: int) -> list[int]:
        """The captured rows a token's gradient is kept on: its own and its predecessor's."""
        rows = {int(self._row_of[position])}
        if position > 0:
            rows.add(int(self._row_of[position - 1]))
        return sorted(rows - {-1})


@dataclass
class WholeMatrices:
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
