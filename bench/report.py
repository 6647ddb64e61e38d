"""results.json -> results.md (markdown tables) and PNG plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .micro import MAP, PRECOMPUTE
from .perturbation import markdown as perturbation_markdown

MIB = 2**20
LABELS = {
    "floor": "floor: eager forward + backward",
    "ours_sequence": 'ours: attn + gradients="sequence"',
    "ours_token": 'ours: attn + gradients="token" + 1 token',
    "reference": "reference vl-saliency 1.1.6",
}


def _ok(result: dict[str, Any] | None) -> bool:
    return result is not None and result.get("status", "ok") == "ok"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s" if value >= 0.01 else f"{value * 1e3:.2f} ms"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / MIB:,.1f}"


def _failed(result: dict[str, Any] | None) -> str:
    if not result:
        return "not run"
    return f"{result.get('status')}: {result.get('error', '')}".strip(": ")


def _time_of(timing: dict[str, Any], method: str) -> float | None:
    return timing[method]["seconds"] if _ok(timing) and method in timing else None


def capture_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| model | tokens | floor | ours, sequence | ours / floor | ours, token + 1 gradient | reference "
        "| ours / reference |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in results["shapes"].items():
        timing = entry["time"]
        if not _ok(timing):
            lines.append(f"| {name} | {entry['shape']['tokens']} | {_failed(timing)} |||||")
            continue
        floor, ours, token, ref = (_time_of(timing, m) for m in ("floor", "ours_sequence", "ours_token", "reference"))
        lines.append(
            f"| {name} | {entry['shape']['tokens']} | {_seconds(floor)} | {_seconds(ours)} | {_ratio(ours, floor)} "
            f"| {_seconds(token)} | {_seconds(ref)} | {_ratio(ours, ref)} |"
        )
    return lines


def memory_table(results: dict[str, Any]) -> list[str]:
    cuda = any("cuda_peak_above" in p for e in results["shapes"].values() for p in e["memory"].values())
    lines = [
        "| model | measured call | peak RSS (MiB) | peak above model + inputs (MiB) | tensors kept (MiB) |"
        + (" CUDA peak above model + inputs (MiB) |" if cuda else ""),
        "|---|---|---:|---:|---:|" + ("---:|" if cuda else ""),
    ]
    for name, entry in results["shapes"].items():
        for method, peak in entry["memory"].items():
            if not _ok(peak):
                lines.append(f"| {name} | {LABELS[method]} | {_failed(peak)} | | |" + (" |" if cuda else ""))
                continue
            above = peak["peak_rss"] - peak["rss_before"]
            lines.append(
                f"| {name} | {LABELS[method]} | {_mib(peak['peak_rss'])} | {_mib(above)} | {_mib(peak['kept_bytes'])} |"
                + (f" {_mib(peak.get('cuda_peak_above'))} |" if cuda else "")
            )
    return lines


def token_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| model | floor: forward + backward | first token's gradient | next token's gradient | first / floor "
        "| 8 tokens one per pass, per token | 8 tokens in one batched pass, per token | batched / one per pass "
        "| max abs difference, batched vs alone |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in results["shapes"].items():
        timing, costs = entry["time"], entry.get("gradients")
        if not _ok(timing):
            continue
        floor = _time_of(timing, "floor")
        first = timing["ours_token"].get("token_grad_s")
        grads = costs["token_gradients"] if _ok(costs) else {}
        one, batched = grads.get("one_by_one_per_token_s"), grads.get("batched_per_token_s")
        difference = grads.get("max_abs_difference")
        lines.append(
            f"| {name} | {_seconds(floor)} | {_seconds(first)} | {_seconds(grads.get('one_s'))} "
            f"| {_ratio(first, floor)} | {_seconds(one)} | {_seconds(batched)} | {_ratio(batched, one)} "
            f"| {'-' if difference is None else f'{difference:.1e}'} |"
        )
    return lines


def size_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| model | reference (float32, answer rows) | ours float32, sequence | ours float16, sequence "
        "| float16, `rows='answer'`, sequence | float16, `rows='answer'`, token (as captured) "
        "| float16 sequence / reference | `rows='answer'` sequence / reference | `rows='answer'` token / reference |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in results["shapes"].items():
        timing, costs = entry["time"], entry.get("gradients")
        if not (_ok(timing) and _ok(costs)):
            continue
        reference = timing["reference"]["kept_bytes"]
        sizes = costs["trace_bytes"]
        lines.append(
            f"| {name} | {_mib(reference)} | {_mib(timing['ours_sequence']['kept_bytes'])} "
            f"| {_mib(sizes['float16_sequence'])} | {_mib(sizes['float16_answer_sequence'])} "
            f"| {_mib(sizes['float16_answer_token'])} | {_ratio(sizes['float16_sequence'], reference)} "
            f"| {_ratio(sizes['float16_answer_sequence'], reference)} "
            f"| {_ratio(sizes['float16_answer_token'], reference)} |"
        )
    return lines


def micro_table(results: dict[str, Any]) -> list[str]:
    micro = results["micro"]
    if not _ok(micro):
        return [f"Not measured: {_failed(micro)}."]
    lines = ["| shape [layers, heads, h, w] | operation | median |", "|---|---|---:|"]
    for group in ("map_agg_normalize", "maps"):
        for shape, operations in micro[group].items():
            for operation, value in operations.items():
                lines.append(f"| {shape} | `{operation}` | {_seconds(value['seconds'])} |")
    return lines


def scaling_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| tokens | floor | ours, sequence | reference | ours / floor | ours / reference "
        "| peak above model (MiB): floor / ours / reference |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for tokens, point in results["scaling"]["points"].items():
        cells = []
        for method in ("floor", "ours_sequence", "reference"):
            cells.append(_seconds(point[method]["seconds"]) if _ok(point[method]) else _failed(point[method]))
        times = [point[m]["seconds"] if _ok(point[m]) else None for m in ("floor", "ours_sequence", "reference")]
        peaks = [
            _mib(point[m]["peak_rss"] - point[m]["rss_before"]) if _ok(point[m]) else "-"
            for m in ("floor", "ours_sequence", "reference")
        ]
        lines.append(
            f"| {tokens} | {' | '.join(cells)} | {_ratio(times[1], times[0])} | {_ratio(times[1], times[2])} "
            f"| {' / '.join(peaks)} |"
        )
    return lines


def _verdict(value: float | None, target: float) -> str:
    if value is None:
        return "not measured"
    return "met" if value <= target else f"missed ({value / target:.1f}x the target)"


def goals_table(results: dict[str, Any]) -> list[str]:
    """The issue's goals beside what this run measured (the worst case over the models and sizes measured)."""
    rows: list[tuple[str, str, float | None, float]] = []
    pairs = [(e["shape"]["tokens"], e["time"]) for e in results["shapes"].values() if _ok(e["time"])]
    for tokens, point in results["scaling"]["points"].items():
        if all(_ok(point[m]) for m in ("floor", "ours_sequence", "reference")):
            pairs.append((int(tokens), {m: point[m] for m in ("floor", "ours_sequence", "reference")}))
    floor_ratios = [t["ours_sequence"]["seconds"] / t["floor"]["seconds"] for _, t in pairs]
    ref_ratios = [t["ours_sequence"]["seconds"] / t["reference"]["seconds"] for n, t in pairs if n >= 900]
    rows.append(("capture (sequence) / floor, every size", "x", max(floor_ratios, default=None), 0.75))
    rows.append(("capture (sequence) / reference, from ~1,000 tokens", "x", max(ref_ratios, default=None), 0.5))
    extra, size, batched = [], [], []
    for e in results["shapes"].values():
        floor, ours, ref = (e["memory"][m] for m in ("floor", "ours_sequence", "reference"))
        if _ok(floor) and _ok(ours) and _ok(ref):
            above = (ours["peak_rss"] - ours["rss_before"]) - (floor["peak_rss"] - floor["rss_before"])
            extra.append(above / (1.1 * ours["kept_bytes"]))
        costs = e.get("gradients")
        if _ok(costs) and _ok(e["time"]):
            size.append(costs["trace_bytes"]["float16_answer_token"] / e["time"]["reference"]["kept_bytes"])
            grads = costs["token_gradients"]
            if grads.get("batched_per_token_s") and grads.get("one_by_one_per_token_s"):
                batched.append(grads["batched_per_token_s"] / grads["one_by_one_per_token_s"])
    rows.append(("peak above the floor's peak / (trace size + 10%)", "x", max(extra, default=None), 1.0))
    rows.append(
        (
            "trace size, float16, rows='answer', as captured / reference's kept tensors",
            "x",
            max(size, default=None),
            0.25,
        )
    )
    token = [
        e["time"]["ours_token"]["token_grad_s"] / e["time"]["floor"]["seconds"]
        for e in results["shapes"].values()
        if _ok(e["time"])
    ]
    rows.append(("one token's gradient / forward + backward", "x", max(token, default=None), 1.0))
    rows.append(("batched per-token gradient / one per pass", "x", max(batched, default=None), 0.5))
    micro = results["micro"]
    if _ok(micro):
        shape, operations = next(iter(micro["map_agg_normalize"].items()))  # the shape; the rest: no target
        rows.append((f"trace.map + agg + normalize, {shape}", "ms", operations[MAP]["seconds"] * 1e3, 0.5))
        precompute = {shape: ops[PRECOMPUTE]["seconds"] * 1e3 for shape, ops in micro["maps"].items()}
        worst = max(precompute, key=precompute.__getitem__)
        rows.append(
            (f"{micro['maps_tokens']}-token precompute (maps reduced), worst: {worst}", "ms", precompute[worst], 100.0)
        )
    lines = ["| goal | target | measured (worst) | verdict |", "|---|---:|---:|---|"]
    for name, unit, value, target in rows:
        shown = "-" if value is None else f"{value:.2f} {unit}"
        lines.append(f"| {name} | {target:g} {unit} | {shown} | {_verdict(value, target)} |")
    lines.append("| click-to-render, hover-to-render (widget) | 1.5 x echo, 16 ms | - | not measured by this command |")
    return lines


def write_markdown(results: dict[str, Any], path: Path, plots: list[Path]) -> None:
    m = results["machine"]
    models = "\n".join(f"- **{name}**: {e['describe']}. {e['shape']['note']}." for name, e in results["shapes"].items())
    base = results["scaling"]["base"]
    text = [
        "# Benchmark results",
        "",
        f"Command: `{results['command']}`, {results['wall_seconds']:.0f} s wall. Machine: {m['cpu']}, "
        f"{m['cores']} cores ({m['threads']} torch thread per measurement), torch {m['torch']}, transformers "
        f"{m['transformers']}, device {m['device']}{', ' + m['gpu'] if 'gpu' in m else ''}.",
        "",
        "Random-weight Gemma 3 models built from configs in `bench/__main__.py` (SigLIP tower: 2 layers, width 32, "
        "one 4 px patch per image token); the same model and inputs for every column of a row. Times are medians of "
        "interleaved repeats after one warm-up each; memory is measured in a separate process per cell.",
        "",
        models,
        "",
        "## Against the issue's goals",
        "",
        *goals_table(results),
        "",
        "## Capture time",
        "",
        "floor: `model(**inputs, labels=ids)` in eager attention with `output_attentions=False`, then "
        "`loss.backward()`: the model's forward, the vision tower's backward and every weight's gradient, nothing "
        "kept. Ours never computes weight gradients nor the vision tower's backward.",
        "",
        *capture_table(results),
        "",
        "## Peak host memory and what is kept",
        "",
        "Peak resident set size (`ru_maxrss`) of a fresh process that builds the model and inputs and runs the call "
        'once; "above" subtracts the resident size just before the call. Kept: bytes of the trace\'s tensors '
        "(ours: attention and, for sequence gradients, the gradient [layers, heads, text rows, image tokens]; the "
        "reference: its attention and gradient lists [layers, heads, answer tokens, h, w]).",
        "",
        *memory_table(results),
        "",
        "## Per-token gradients",
        "",
        'With `gradients="token"`, `trace.map(t, "grad")` runs one backward through the graph the capture kept. '
        '`trace.maps(positions, "grad")` computes the missing tokens `batch_size` at a time: one backward pass '
        "vectorized over a one-hot batch of output gradients (`torch.autograd.grad(..., is_grads_batched=True)`). "
        "Measured in a separate process on 8 prompt tokens each way; the difference column compares one batched "
        "token's kept gradient rows with the same token's gradient computed alone.",
        "",
        *token_table(results),
        "",
        "## Trace size",
        "",
        "MiB of the tensors each trace keeps, each measured on a capture. The reference keeps attention and "
        "gradient for the answer tokens' rows only, in float32. By default ours keeps every text row (prompt and "
        'answer); `rows="answer"` keeps the answer tokens\' own rows and the row before the first (one row more '
        'than the reference). With `gradients="sequence"` a capture keeps attention and gradient; with '
        '`gradients="token"` it keeps attention, and each token\'s gradient rows are added when it is asked for.',
        "",
        *size_table(results),
        "",
        "## Maps from a trace",
        "",
        'Synthetic traces of random attention (no model): `trace.map(t, "attn").agg() >> T.normalize()`, the same on '
        f"a `SaliencyMap` made from a tensor, and `trace.maps` for {results['micro']['maps_tokens']} text tokens: "
        "the whole stack, the stack's mean over layers and heads, and the reduced call the widget's all-tokens "
        "precompute makes (`layer_reduce=`, `head_reduce=`; the reduction runs before the gather). Tiled: 2 x 2 "
        "tiles of (h/2, w/2) cells and a thumbnail of the same size, spread onto one [h, w] canvas (1.25 h w image "
        "tokens). Medians over repeated calls.",
        "",
        *micro_table(results),
        "",
        *([*perturbation_markdown(results["perturbation"]), ""] if results.get("perturbation") else []),
        "## Scaling with the sequence length",
        "",
        f"Model: {base['layers']} layers x {base['heads']} heads ({base['kv_heads']} kv), hidden {base['hidden']}, "
        "head_dim {head_dim}, MLP {intermediate}; 7/8 of the tokens are image tokens. One process per cell; the "
        "time is the second of two runs.".format(**base),
        "",
        *scaling_table(results),
        "",
        *(f"![{p.stem}]({p.name})" for p in plots),
        "",
    ]
    path.write_text("\n".join(text))


def write_plots(results: dict[str, Any], out: Path) -> list[Path]:
    """scaling_time.png, scaling_memory.png and capture_time.png; the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    points = results["scaling"]["points"]
    for key, ylabel, name in (
        ("seconds", "seconds per capture", "scaling_time.png"),
        ("peak_above", "peak RSS above model + inputs (MiB)", "scaling_memory.png"),
    ):
        fig, ax = plt.subplots(figsize=(6, 4))
        for method in ("floor", "ours_sequence", "reference"):
            xs, ys = [], []
            for tokens, point in points.items():
                result = point[method]
                if _ok(result):
                    value = result["seconds"] if key == "seconds" else (result["peak_rss"] - result["rss_before"]) / MIB
                    xs.append(int(tokens))
                    ys.append(value)
            ax.plot(xs, ys, marker="o", label=LABELS[method])
        ax.set_xscale("log", base=2)
        ax.set_xticks([int(t) for t in points], [str(t) for t in points])
        ax.set_yscale("log")
        ax.set_xlabel("sequence length (tokens)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        paths.append(out / name)
    fig, ax = plt.subplots(figsize=(7, 4))
    names = [n for n, e in results["shapes"].items() if _ok(e["time"])]
    width = 0.2
    for i, method in enumerate(LABELS):
        values = [results["shapes"][n]["time"][method]["seconds"] for n in names]
        ax.bar([k + (i - 1.5) * width for k in range(len(names))], values, width, label=LABELS[method])
    ax.set_xticks(range(len(names)), names, fontsize=8)
    ax.set_ylabel("seconds (median)")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "capture_time.png", dpi=100)
    plt.close(fig)
    paths.append(out / "capture_time.png")
    return paths
