"""The measured calls, each on one model and one input: the floor, our capture and the reference's capture.

``floor``: ``model(**inputs, labels=ids)`` with eager attention and ``output_attentions=False``, then
``loss.backward()``: the whole model's forward, the vision tower's and every weight's gradient, nothing kept.
``ours_sequence``: ``SaliencyExtractor(..., gradients="sequence").capture(...)``: attention and the gradient of
the whole-sequence loss, both [layers, heads, text rows, image tokens].
``ours_token``: ``SaliencyExtractor(..., gradients="token").capture(...)`` then ``trace.map(0, "grad")``: attention
and one answer token's exact gradient (one more backward through the retained graph).
``reference``: ``vl_saliency.SaliencyExtractor(...).capture(...)`` (PyPI vl-saliency 1.1.6).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any, Literal

import torch

from .isolate import peak_rss_bytes, rss_bytes
from .models import Shape, build

METHODS = ("floor", "ours_sequence", "ours_token", "reference")


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _tensor_bytes(tensors: Any) -> int:
    if tensors is None:
        return 0
    if isinstance(tensors, torch.Tensor):
        return tensors.numel() * tensors.element_size()
    return sum(_tensor_bytes(t) for t in tensors)


def runner(method: str, model: Any, processor: Any, inputs: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """A callable that runs ``method`` once and returns what it kept: ``kept_bytes`` and, for ``ours_token``, the
    seconds of the token's gradient (``token_grad_s``)."""
    from vl_saliency_widget import SaliencyExtractor

    generated = inputs["generated_ids"]
    model_inputs = {k: v for k, v in inputs.items() if k != "generated_ids"}
    device = str(generated.device)
    if method == "floor":

        def floor() -> dict[str, Any]:
            model.zero_grad(set_to_none=True)
            full = {**model_inputs, "input_ids": generated, "attention_mask": torch.ones_like(generated)}
            loss = model(**full, labels=generated, use_cache=False, output_attentions=False).loss
            loss.backward()
            model.zero_grad(set_to_none=True)
            return {"kept_bytes": 0}

        return floor
    if method in ("ours_sequence", "ours_token"):
        gradients: Literal["sequence", "token"] = "sequence" if method == "ours_sequence" else "token"
        extractor = SaliencyExtractor(model, processor, gradients=gradients)

        def ours() -> dict[str, Any]:
            trace = extractor.capture(**model_inputs, generated_ids=generated)
            result: dict[str, Any] = {"kept_bytes": _tensor_bytes(trace.attn) + _tensor_bytes(trace.data.grad)}
            if gradients == "token":
                _sync(device)
                start = time.perf_counter()
                grad = trace.map(0, "grad")
                _sync(device)
                result["token_grad_s"] = time.perf_counter() - start
                result["kept_bytes"] += _tensor_bytes(grad.tensor())
            return result

        return ours
    if method == "reference":
        import vl_saliency

        extractor_ref = vl_saliency.SaliencyExtractor(model, processor)

        def reference() -> dict[str, Any]:
            trace = extractor_ref.capture(**model_inputs, generated_ids=generated)
            model.zero_grad(set_to_none=True)
            return {"kept_bytes": _tensor_bytes(trace.attn) + _tensor_bytes(trace.grad)}

        return reference
    raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")


def timed(method: str, fn: Callable[[], dict[str, Any]], device: str) -> dict[str, Any]:
    _sync(device)
    start = time.perf_counter()
    result = fn()
    _sync(device)
    return {**result, "seconds": time.perf_counter() - start}


def compare(shape: Shape, methods: list[str], repeats: int, device: str) -> dict[str, Any]:
    """Time ``methods`` on one model: one warm-up each, then ``repeats`` interleaved rounds; medians in seconds."""
    model, processor, inputs = build(shape, device)
    runs = {m: runner(m, model, processor, inputs) for m in methods}
    samples: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for m in methods:
        timed(m, runs[m], device)
    for _ in range(repeats):
        for m in methods:
            samples[m].append(timed(m, runs[m], device))
    result: dict[str, Any] = {}
    for m, rows in samples.items():
        result[m] = {
            "seconds": statistics.median(r["seconds"] for r in rows),
            "samples": [r["seconds"] for r in rows],
            "kept_bytes": rows[-1]["kept_bytes"],
        }
        if "token_grad_s" in rows[0]:
            result[m]["token_grad_s"] = statistics.median(r["token_grad_s"] for r in rows)
    return result


def gradients(shape: Shape, device: str) -> dict[str, Any]:
    """Per-token gradients after the first (``token_gradients``) and the bytes of float16 traces (``trace_bytes``)."""
    model, processor, inputs = build(shape, device)
    return {
        "token_gradients": token_gradients(model, processor, inputs, device),
        "trace_bytes": trace_bytes(model, processor, inputs, shape.answer),
    }


BATCH = 8
"""Tokens per batched backward pass in ``token_gradients``."""


def token_gradients(model: Any, processor: Any, inputs: dict[str, Any], device: str) -> dict[str, Any]:
    """Per-token gradients after the first: one backward pass each, and ``BATCH`` tokens per pass.

    ``one_s``: median seconds of answer tokens 1, 2 and 3, each one more backward through the retained graph
    (``trace.map(t, "grad")``). ``batched_per_token_s``: seconds of ``trace.maps`` over ``BATCH`` prompt text tokens
    not computed yet with ``batch_size=BATCH`` (one backward vectorized over a one-hot batch of output gradients),
    divided by ``BATCH``. ``one_by_one_per_token_s``: the same call on ``BATCH`` other prompt tokens with
    ``batch_size=1`` (``BATCH`` backward passes), divided by ``BATCH``. ``max_abs_difference``: the largest
    difference between the first batched token's kept gradient rows and its gradient computed alone.
    """
    from vl_saliency_widget import SaliencyExtractor

    generated = inputs["generated_ids"]
    trace = SaliencyExtractor(model, processor, gradients="token").capture(
        **{k: v for k, v in inputs.items() if k != "generated_ids"}, generated_ids=generated
    )
    gradients = trace.data.token_gradients
    assert gradients is not None
    trace.map(0, "grad")
    seconds = []
    for t in range(1, min(4, trace.total_generated_tokens)):
        _sync(device)
        start = time.perf_counter()
        trace.map(t, "grad")
        _sync(device)
        seconds.append(time.perf_counter() - start)
    prompt = [p for p in trace.text_positions if p < trace.gen_start - 1][::-1]
    per_token = {}
    for size, group in ((BATCH, prompt[:BATCH]), (1, prompt[BATCH : 2 * BATCH])):
        if len(group) < BATCH:
            break
        gradients.batch_size = size
        _sync(device)
        start = time.perf_counter()
        trace.maps(group, "grad")
        _sync(device)
        per_token[size] = (time.perf_counter() - start) / BATCH
    difference = None
    if BATCH in per_token:  # the first batched token again, alone
        alone = gradients.compute(prompt[0])
        kept = [(r, row) for (p, r), row in trace.data.token_grads.items() if p == prompt[0]]
        difference = max(float((row - alone[:, :, r]).abs().max()) for r, row in kept)
    return {
        "one_s": statistics.median(seconds),
        "batch": BATCH,
        "batched_per_token_s": per_token.get(BATCH),
        "one_by_one_per_token_s": per_token.get(1),
        "max_abs_difference": difference,
    }


def trace_bytes(model: Any, processor: Any, inputs: dict[str, Any], answer: int) -> dict[str, int]:
    """Bytes of the tensors traces keep with ``dtype=torch.float16``, each measured on a capture.

    ``float16_sequence``: attention and the whole-sequence gradient on every text row. ``float16_answer_sequence``:
    the same with ``rows="answer"`` (the answer's own rows and the row before it). ``float16_answer_token``:
    ``rows="answer"`` with ``gradients="token"``, as captured (attention only; each token's gradient rows are added
    when it is asked for).
    """
    from vl_saliency_widget import SaliencyExtractor

    generated = inputs["generated_ids"]
    model_inputs = {k: v for k, v in inputs.items() if k != "generated_ids"}

    def kept(**options: Any) -> int:
        extractor = SaliencyExtractor(model, processor, dtype=torch.float16, **options)
        trace = extractor.capture(**model_inputs, generated_ids=generated)
        return _tensor_bytes(trace.attn) + _tensor_bytes(trace.data.grad)

    return {
        "float16_sequence": kept(gradients="sequence"),
        "float16_answer_sequence": kept(gradients="sequence", rows="answer"),
        "float16_answer_token": kept(gradients="token", rows="answer"),
    }


def memory(shape: Shape, method: str, device: str, repeats: int = 1) -> dict[str, Any]:
    """Peak host memory of ``method`` run ``repeats`` times in this (fresh) process, and its time.

    ``rss_before``: resident bytes after the model and inputs are built, before the first call; on CUDA,
    ``cuda_peak_above``: the peak of ``torch.cuda.max_memory_allocated`` above what was allocated then. ``seconds``: the
    median of the runs after the first (the first is a warm-up) when there are several.
    """
    model, processor, inputs = build(shape, device)
    fn = runner(method, model, processor, inputs)
    before = rss_bytes()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
        cuda_before = torch.cuda.memory_allocated(device)
    runs = [timed(method, fn, device) for _ in range(repeats)]
    cuda = {}
    if device.startswith("cuda"):
        cuda = {"cuda_peak_above": torch.cuda.max_memory_allocated(device) - cuda_before}
    return {
        **cuda,
        "rss_before": before,
        "peak_rss_inside": peak_rss_bytes(),
        "seconds": statistics.median(r["seconds"] for r in runs[1:] or runs),
        "samples": [r["seconds"] for r in runs],
        "kept_bytes": runs[-1]["kept_bytes"],
    }
