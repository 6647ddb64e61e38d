"""The one place that touches transformers' attention internals.

During a capture the language model's attention implementation is switched to a function registered with
``transformers.AttentionInterface``. The layer's output comes from fused ``scaled_dot_product_attention`` (no
T x T matrix kept for the backward); the architecture's own eager attention runs, without autograd, on the kept
query rows alone (so the probabilities are exactly the ones the model computes, sliding windows and GQA included),
and only the slices saliency maps need are kept: text-query rows x image-key columns, per layer and head. Whole
matrices and softcapping run the whole eager attention instead (the capture puts the model in eval mode, so
dropout never runs).

Gradients with respect to those attention entries are total derivatives through the whole network, obtained
without copying any T x T tensor: each layer adds ``Z @ V[image columns]`` to its attention output on the text
rows, where ``Z`` is a zero "probe" [heads, rows, image columns]. The forward value is unchanged, and since the
attention output is ``A @ V``, ``dL/dZ`` equals ``dL/dA`` on those entries. Only the probes require gradients, so
no weight gradient is built or accumulated.

Methods that need more ask for it (see ``core.method.Needs``):

- pre-softmax scores of the kept entries are recomputed from the layer's query and key the way eager attention
  computes them (scaling, softcapping, additive mask). Their gradient needs no T x T tensor either: for a softmax
  row, ``dL/dS_ij = A_ij (dL/dA_ij - c_i)`` with ``c_i = sum_k A_ik dL/dA_ik = dL/do_i . o_i`` over all keys, and
  ``c_i`` is the gradient of a zero probe ``s`` [heads, rows] entering as ``o_i + s_i * o_i`` (o detached).
- whole matrices (relevancy, rollout): every layer's attention [heads, T, keys] is kept, with a zero probe of the
  same shape adding ``Zf @ V`` to the output, so ``dL/dZf`` is the whole ``dL/dA``.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, eager_mask

CAPTURE_IMPLEMENTATION = "vl_saliency_capture"
"""Name under which the capture function is registered with transformers' attention and mask interfaces."""


@dataclass
class Recorder:
    """Collects the attention slices and gradient probes of one forward pass.

    Attributes:
        rows: LongTensor [R] of the text positions whose attention rows are kept.
        cols: LongTensor [I] of the key indices whose attention columns are kept: image positions of the sequence
            for self-attention, indices into the image features for cross-attention.
        seq_len: T, the length of the sequence the forward pass runs on.
        cross: record the cross-attention layers (keys: image features, as in Mllama) instead of self-attention.
        layers: indices (in call order, from 0) of the layers to record; None: all.
        heads: LongTensor of the head indices to record; None: all.
        dtype: storage dtype of the kept attention; None: the model's.
        store_attns: keep attention probabilities.
        make_probes: add gradient probes.
        keep_scores: keep the pre-softmax scores of the kept entries (and, with ``make_probes``, the row probes
            their gradients need).
        keep_matrices: keep every layer's whole attention matrix (self- and cross-attention layers alike, all heads;
            ``layers`` and ``heads`` do not apply) and, with ``make_probes``, whole-matrix probes.
        attn: per layer, attention [heads, R, I] on the CPU.
        probes: per layer, the zero probe [heads, R, I] (requires grad) on that layer's device.
        scores: per layer, pre-softmax scores [heads, R, I] on the CPU.
        row_probes: per layer, the zero probe [heads, R] whose gradient is ``sum_k A_ik dL/dA_ik`` per row.
        matrix_attn: per layer in call order, attention [heads, T, keys] on the CPU.
        matrix_kinds: per entry of ``matrix_attn``, "self" or "cross" (keys: the image features).
        matrix_probes: per entry of ``matrix_attn``, the zero probe [heads, T, keys].
        text_cols: LongTensor [Tt] of the text key positions whose columns are kept too (attribution to the text);
            None: none.
        text_attn: per layer, attention [heads, R, Tt] on the CPU.
        text_probes: per layer, the zero probe [heads, R, Tt] whose gradient is ``dL/dA`` on the text columns.
    """

    rows: torch.Tensor
    cols: torch.Tensor
    seq_len: int
    store_attns: bool
    make_probes: bool
    cross: bool = False
    layers: frozenset[int] | None = None
    heads: torch.Tensor | None = None
    dtype: torch.dtype | None = None
    keep_scores: bool = False
    keep_matrices: bool = False
    attn: list[torch.Tensor] = field(default_factory=list)
    probes: list[torch.Tensor] = field(default_factory=list)
    scores: list[torch.Tensor] = field(default_factory=list)
    row_probes: list[torch.Tensor] = field(default_factory=list)
    matrix_attn: list[torch.Tensor] = field(default_factory=list)
    matrix_kinds: list[str] = field(default_factory=list)
    matrix_probes: list[torch.Tensor] = field(default_factory=list)
    text_cols: torch.Tensor | None = None
    text_attn: list[torch.Tensor] = field(default_factory=list)
    text_probes: list[torch.Tensor] = field(default_factory=list)
    _layer_of: dict[int, int] = field(default_factory=dict)
    _indices: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)

    def indices(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows, cols) on ``device``, moved once per device."""
        if device not in self._indices:
            self._indices[device] = (self.rows.to(device), self.cols.to(device))
        return self._indices[device]

    def keeps(self, module: nn.Module, keys: int) -> bool:
        """Whether ``record`` will keep slices of this layer: its keys hold the image and ``layers`` selects it."""
        if (keys != self.seq_len) != self.cross:
            return False
        index = self._layer_of.get(id(module), len(self._layer_of))
        return self.layers is None or index in self.layers

    def record(
        self,
        module: nn.Module,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | None,
        output: torch.Tensor,
        weights: torch.Tensor | None,
        options: dict[str, Any],
        rows_only: bool = False,
    ) -> torch.Tensor:
        """Keep this layer's slices; returns the attention output with the probe terms added.

        Args:
            module: the attention module (identifies the layer).
            query: query states [1, heads, T, D].
            key: key states [1, kv_heads, keys, D].
            value: value states [1, kv_heads, keys, D].
            mask: the additive attention mask [1, 1 or heads, T, keys], or None.
            output: attention output [1, T, heads, D].
            weights: attention probabilities [1, heads, T, keys], or with ``rows_only`` [1, heads, R, keys] (the
                kept rows only).
            options: the keyword arguments the attention function got (scaling, softcap...).
        """
        if self.keep_matrices:
            output = self._record_matrix(module, value, output, weights)
        if (key.shape[2] != self.seq_len) != self.cross:
            if not self.cross:
                raise RuntimeError(
                    f"{type(module).__name__} attends to {key.shape[2]} keys, not the sequence's {self.seq_len}: "
                    "a cross-attention layer in a model whose layout places the image in the sequence."
                )
            return output  # a self-attention layer of a cross-attention model: the image is not among its keys
        if id(module) in self._layer_of:
            raise RuntimeError(
                "An attention layer ran twice in one capture (gradient checkpointing or a repeated module). "
                "Disable gradient checkpointing before capturing."
            )
        index = self._layer_of[id(module)] = len(self._layer_of)
        if self.layers is not None and index not in self.layers:
            return output
        if weights is None:
            raise RuntimeError(f"{type(module).__name__}'s eager attention returned no attention weights.")
        keys = weights.shape[-1]
        query_rows = self.rows.numel() if rows_only else self.seq_len
        if weights.shape[0] != 1 or weights.shape[-2] != query_rows or int(self.cols.max()) >= keys:
            raise RuntimeError(
                f"Attention weights of shape {tuple(weights.shape)} do not cover the whole sequence of {self.seq_len} "
                "tokens; the capture needs one forward pass over the whole sequence without a cache."
            )
        rows, cols = self.indices(weights.device)
        heads = weights.shape[1]
        chosen = None if self.heads is None else self.heads.to(weights.device)
        if chosen is not None and int(chosen.max()) >= heads:
            raise ValueError(f"heads= asks for head {int(chosen.max())}, but the layers have {heads} heads.")
        if self.store_attns:
            kept = weights[0].detach()
            kept = kept if chosen is None else kept.index_select(0, chosen)
            kept = kept if rows_only else kept.index_select(1, rows)
            self.attn.append(kept.index_select(2, cols).to("cpu", dtype=self.dtype or kept.dtype))
            if self.text_cols is not None:
                text = kept.index_select(2, self.text_cols.to(kept.device))
                self.text_attn.append(text.to("cpu", dtype=self.dtype or kept.dtype))
        if self.keep_scores:
            scores = self._scores(module, query, key, mask, options, rows, cols)
            kept_scores = scores if chosen is None else scores.index_select(0, chosen)
            self.scores.append(kept_scores.to("cpu", dtype=self.dtype or kept_scores.dtype))
        if not self.make_probes:
            return output
        if output.shape[:3] != (1, self.seq_len, heads):
            raise RuntimeError(
                f"{type(module).__name__}'s attention output has shape {tuple(output.shape)}; expected "
                f"[1, {self.seq_len}, {heads}, head_dim]."
            )
        groups = heads // value.shape[1]
        all_values = value[0].repeat_interleave(groups, dim=0)  # [heads, keys, D]
        if chosen is not None:
            all_values = all_values.index_select(0, chosen)

        def probe_on(columns: torch.Tensor, probes: list[torch.Tensor]) -> torch.Tensor:
            """A zero probe Z [chosen heads, R, columns] kept in ``probes``; returns Z @ V[columns], zero-valued."""
            probe = torch.zeros(
                all_values.shape[0], rows.numel(), columns.numel(), dtype=weights.dtype, device=weights.device
            ).requires_grad_(True)
            probes.append(probe)
            return torch.matmul(probe.to(all_values.dtype), all_values.index_select(1, columns))

        delta = probe_on(cols, self.probes)  # [chosen heads, R, D]
        if self.text_cols is not None:
            delta = delta + probe_on(self.text_cols.to(weights.device), self.text_probes)
        if self.keep_scores:
            # c_i = dL/do_i . o_i: the gradient of a zero scale s_i on the row's output (o held constant).
            row_outputs = output[0].index_select(0, rows).transpose(0, 1).detach()  # [heads, R, D]
            if chosen is not None:
                row_outputs = row_outputs.index_select(0, chosen)
            row_probe = torch.zeros(delta.shape[:2], dtype=weights.dtype, device=weights.device).requires_grad_(True)
            self.row_probes.append(row_probe)
            delta = delta + row_probe.to(row_outputs.dtype)[..., None] * row_outputs
        if chosen is not None:
            delta = delta.new_zeros(heads, *delta.shape[1:]).index_add(0, chosen, delta)
        return output.index_add(1, rows, delta.transpose(0, 1).unsqueeze(0).to(output.dtype))

    def _scores(
        self,
        module: nn.Module,
        query: torch.Tensor,
        key: torch.Tensor,
        mask: torch.Tensor | None,
        options: dict[str, Any],
        rows: torch.Tensor,
        cols: torch.Tensor,
    ) -> torch.Tensor:
        """Pre-softmax scores [heads, R, I] of the kept entries, as eager attention computes them: ``q k^T *
        scaling``, then softcapping, then the additive mask."""
        heads = query.shape[1]
        keys = key[0].repeat_interleave(heads // key.shape[1], dim=0).index_select(1, cols)  # [heads, I, D]
        scaling = options.get("scaling")
        if scaling is None:
            scaling = getattr(module, "scaling", None) or getattr(module, "head_dim", query.shape[-1]) ** -0.5
        with torch.no_grad():
            scores = torch.matmul(query[0].index_select(1, rows), keys.transpose(1, 2)) * scaling
            softcap = options.get("softcap")
            if softcap is not None:
                scores = torch.tanh(scores / softcap) * softcap
            if mask is not None:
                kept = mask[0].index_select(-2, rows).index_select(-1, cols)
                if kept.dtype == torch.bool:
                    kept = torch.zeros_like(kept, dtype=scores.dtype).masked_fill(~kept, float("-inf"))
                scores = scores + kept
        return scores

    def _record_matrix(
        self, module: nn.Module, value: torch.Tensor, output: torch.Tensor, weights: torch.Tensor | None
    ) -> torch.Tensor:
        """Keep the whole attention matrix of the layer (and add its whole-matrix probe)."""
        if weights is None:
            raise RuntimeError(f"{type(module).__name__}'s eager attention returned no attention weights.")
        cross = weights.shape[-1] != self.seq_len
        if cross and not self.cross:
            return output  # the error is raised by record
        self.matrix_attn.append(weights[0].detach().to("cpu", dtype=self.dtype or weights.dtype))
        self.matrix_kinds.append("cross" if cross else "self")
        if not self.make_probes:
            return output
        heads = weights.shape[1]
        values = value[0].repeat_interleave(heads // value.shape[1], dim=0)  # [heads, keys, D]
        probe = torch.zeros_like(weights[0]).requires_grad_(True)
        self.matrix_probes.append(probe)
        delta = torch.matmul(probe.to(values.dtype), values)  # [heads, T, D], zero-valued
        return output + delta.transpose(0, 1).unsqueeze(0).to(output.dtype)


_ACTIVE: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar("vl_saliency_recorder", default=None)


def _generic_eager(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    softcap: float | None = None,
    **_: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain eager attention for modules whose file defines none: softmax(q k^T * scaling + mask) v."""
    groups = query.shape[1] // key.shape[1]
    key = key.repeat_interleave(groups, dim=1)
    value = value.repeat_interleave(groups, dim=1)
    scores = torch.matmul(query, key.transpose(2, 3)) * (scaling if scaling is not None else query.shape[-1] ** -0.5)
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


def _eager_for(module: nn.Module) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """The eager attention function of the module's own modeling file (the architecture's exact maths)."""
    fn = getattr(sys.modules.get(type(module).__module__), "eager_attention_forward", None)
    return fn if callable(fn) else _generic_eager


def _whole_matrix_needed(recorder: Recorder, module: nn.Module, options: dict[str, Any]) -> bool:
    """Whether this layer must run the full eager attention: whole matrices are kept, or a fused kernel cannot
    compute the output (softcapping, attention sinks). ``capturing`` puts the model in eval mode: no dropout."""
    return recorder.keep_matrices or options.get("softcap") is not None or options.get("s_aux") is not None


def capture_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Attention function registered as ``CAPTURE_IMPLEMENTATION``: attention plus recording.

    When only text rows are kept, the layer's output comes from a fused ``scaled_dot_product_attention`` (no T x T
    matrix kept for the backward), and the architecture's own eager attention runs, without autograd, on the kept
    query rows only to give their probabilities. Otherwise the whole eager attention runs.
    """
    eager = _eager_for(module)
    recorder = _ACTIVE.get()
    if recorder is None:
        return eager(module, query, key, value, attention_mask, **kwargs)
    if _whole_matrix_needed(recorder, module, kwargs):
        output, weights = eager(module, query, key, value, attention_mask, **kwargs)
        return recorder.record(module, query, key, value, attention_mask, output, weights, kwargs), weights
    output, _ = sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    row_weights = None
    if recorder.keeps(module, key.shape[2]):
        rows, _ = recorder.indices(query.device)
        row_mask = None
        if attention_mask is not None:
            row_mask = attention_mask if attention_mask.shape[-2] == 1 else attention_mask.index_select(-2, rows)
        with torch.no_grad():
            _, row_weights = eager(module, query.index_select(2, rows), key, value, row_mask, **kwargs)
    output = recorder.record(module, query, key, value, attention_mask, output, row_weights, kwargs, rows_only=True)
    return output, None


AttentionInterface.register(CAPTURE_IMPLEMENTATION, capture_attention)
AttentionMaskInterface.register(CAPTURE_IMPLEMENTATION, eager_mask)


def text_config(model: nn.Module) -> Any:
    """The config whose ``_attn_implementation`` the language model's attention layers read."""
    config: Any = model.config
    return config.get_text_config(decoder=True)


@contextlib.contextmanager
def capturing(model: nn.Module, recorder: Recorder) -> Iterator[None]:
    """Run the block with the language model's attention recorded and the model ready for a gradient pass.

    On entry: eval mode (no dropout), every parameter's ``requires_grad`` off (so only the probes need
    gradients), and the text configs' attention implementation switched to the capture function. On exit,
    whatever happened, all of it is restored exactly as it was.
    """
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            "capture() was called inside torch.inference_mode(); it needs autograd. Call it outside the "
            "inference_mode block (generating inside one is fine)."
        )
    training = [(m, m.training) for m in model.modules()]
    requires_grad = [(p, p.requires_grad) for p in model.parameters()]
    config = text_config(model)
    implementation = config._attn_implementation_internal
    token = _ACTIVE.set(recorder)
    try:
        model.eval()
        for p, _ in requires_grad:
            p.requires_grad_(False)
        config._attn_implementation_internal = CAPTURE_IMPLEMENTATION
        with torch.enable_grad():
            yield
    finally:
        _ACTIVE.reset(token)
        config._attn_implementation_internal = implementation
        for p, flag in requires_grad:
            p.requires_grad_(flag)
        for m, flag in training:
            m.training = flag
