"""``capture_dataset``: generate, capture, precompute and score every sample of a dataset, in one process or many.

Under ``accelerate launch`` the samples still to do are split between the processes with accelerate's own split
(``PartialState.split_between_processes``: contiguous parts, in dataset order); each process writes its own shard
and the main process merges the summary after a barrier. Without accelerate (or outside a launch) it is one
process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import torch
from safetensors.torch import save_file

from .. import lib
from ..core.extractor import Gradients, SaliencyExtractor
from ..core.inputs import input_device
from ..core.method import Method, method_name, needs_of_all
from ..core.reduce import Reduction, check_reduction
from ..core.regions import box_cells
from ..core.trace import Align, Trace
from ..lib.scores import energy, pointing, rankings
from . import store
from .progress import Progress
from .records import DEFAULT_METHODS, Prepared, Samples, json_safe, metadata, prepare
from .run import Run

FORMAT = 1
"""Version of the run folder's layout and row fields."""


class SingleProcess:
    """The part of ``accelerate.PartialState`` a run uses, for one process without accelerate."""

    process_index = 0
    num_processes = 1
    is_main_process = True
    device = torch.device("cpu")

    def wait_for_everyone(self) -> None:
        pass

    @contextlib.contextmanager
    def split_between_processes(self, inputs: list[Any], apply_padding: bool = False) -> Iterator[list[Any]]:
        yield inputs


def accelerator_available() -> bool:
    """Whether torch sees an accelerator (CUDA, ROCm, XPU, MPS...)."""
    accelerator = getattr(torch, "accelerator", None)
    if accelerator is not None and hasattr(accelerator, "is_available"):
        return bool(accelerator.is_available())
    return torch.cuda.is_available()


def process_state() -> Any:
    """accelerate's ``PartialState`` of this process (``cpu=True`` where there is no accelerator, so that
    ``accelerate launch --multi_gpu`` on a CPU machine gives every process a gloo group), or a
    :class:`SingleProcess` when accelerate is not installed."""
    try:
        from accelerate import PartialState
    except ImportError:
        return SingleProcess()
    return PartialState(cpu=not accelerator_available())


def resolve_methods(methods: Sequence[Method | str]) -> dict[str, Method]:
    """The methods by the name their columns take: "attn", "grad", a name of ``lib.METHODS`` or a method object.

    Raises:
        ValueError: an unknown name, or two methods with one name.
    """
    resolved: dict[str, Method] = {}
    for method in methods:
        if isinstance(method, str):
            if method not in ("attn", "grad") and method not in lib.METHODS:
                known = ", ".join(["attn", "grad", *lib.METHODS])
                raise ValueError(f"Unknown method {method!r}: use one of {known} or a method object.")
            name, value = method, cast(Method, lib.METHODS.get(method, method))
        else:
            name, value = method_name(method), method
        if name in resolved:
            raise ValueError(f"Two methods are named {name!r}.")
        resolved[name] = value
    if not resolved:
        raise ValueError("Give at least one method to precompute.")
    return resolved


def sample_seed(seed: int, sample_id: Any) -> int:
    """The seed of a sample's tie-breaking order (``lib.scores.ranking``): from the run's ``seed`` and the sample's
    id alone, so the order does not depend on which process does the sample, or when."""
    digest = hashlib.sha256(f"{seed}:{json.dumps(sample_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def _tokenizer(processor: Any) -> Any:
    return getattr(processor, "tokenizer", processor)


def _chat_inputs(processor: Any, messages: list[dict[str, Any]], device: torch.device) -> dict[str, Any]:
    inputs = processor.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_tensors="pt", add_generation_prompt=True
    )
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in dict(inputs).items()}


def answer_ids(processor: Any, messages: list[dict[str, Any]], answer: str) -> list[int]:
    """The token ids of ``answer`` as the chat template writes an assistant's answer after ``messages``: the
    template's text of the whole chat with the answer, minus its text with the generation prompt (end-of-turn tokens
    included); ``answer`` alone when the first does not extend the second."""
    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    reply = {"role": "assistant", "content": [{"type": "text", "text": answer}]}
    whole = processor.apply_chat_template([*messages, reply], tokenize=False)
    text = whole[len(prompt) :] if isinstance(whole, str) and whole.startswith(prompt) else answer
    ids = _tokenizer(processor)(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError(f"The answer {answer!r} tokenizes to nothing.")
    return list(ids)


class _Sampler:
    """Does one sample: prompt, answer, capture, maps, scores, files. Holds no trace between samples."""

    def __init__(
        self,
        model: Any,
        processor: Any,
        extractor: SaliencyExtractor,
        methods: dict[str, Method],
        *,
        max_new_tokens: int,
        generate_kwargs: dict[str, Any],
        reduce: Reduction,
        align: Align,
        seed: int,
        fsync: bool,
    ) -> None:
        self.model = model
        self.processor = processor
        self.extractor = extractor
        self.methods = methods
        self.max_new_tokens = max_new_tokens
        self.generate_kwargs = generate_kwargs
        self.reduce: Reduction = reduce
        self.align: Align = align
        self.seed = seed
        self.fsync = fsync
        self.device = input_device(model)

    def sequence(self, sample: Prepared, inputs: dict[str, Any]) -> tuple[torch.Tensor, str]:
        """[1, T]: the prompt and the answer (given and teacher forced, or generated greedily)."""
        prompt = inputs["input_ids"]
        if sample.answer is not None:
            tail = torch.tensor([answer_ids(self.processor, sample.messages, sample.answer)], device=prompt.device)
            return torch.cat([prompt, tail.to(prompt.dtype)], dim=1), "given"
        options = {"max_new_tokens": self.max_new_tokens, "do_sample": False, **self.generate_kwargs}
        with torch.no_grad():
            generated = self.model.generate(**inputs, **options)
        sequences = getattr(generated, "sequences", generated)
        if sequences.shape[1] <= prompt.shape[1]:
            raise ValueError("The model generated no token.")
        return sequences[:1], "generated"

    def maps(self, trace: Trace, positions: list[int]) -> dict[str, list[torch.Tensor]]:
        """Per method, per picture, [answer tokens, rows, cols]: each token's map reduced over layers and heads."""
        out: dict[str, list[torch.Tensor]] = {}
        for name, method in self.methods.items():
            per_image = []
            for image in range(trace.total_images):
                if isinstance(method, str):
                    stack = trace.maps(
                        positions, method, image, align=self.align, layer_reduce=self.reduce, head_reduce=self.reduce
                    )[:, 0, 0]
                else:
                    stack = torch.stack(
                        [
                            trace.map_at(p, method, image, align=self.align).agg(self.reduce, self.reduce).map[0, 0]
                            for p in positions
                        ]
                    )
                per_image.append(stack.detach().float().cpu().contiguous())
            out[name] = per_image
        return out

    def scores(self, sample: Prepared, trace: Trace, maps: dict[str, list[torch.Tensor]]) -> dict[str, Any]:
        """The row's per-method columns: top cell per token and picture; pointing and energy per token on the boxed
        picture (None without boxes). Ties between cells are broken in the sample's seeded order."""
        generator = torch.Generator().manual_seed(sample_seed(self.seed, sample.id))
        columns: dict[str, Any] = {}
        for name, per_image in maps.items():
            tops: list[list[list[int]]] = [[] for _ in range(per_image[0].shape[0])]
            hits: list[float] | None = None
            shares: list[float] | None = None
            for image, stack in enumerate(per_image):
                tokens, rows, cols = stack.shape
                flat = stack.reshape(tokens, rows * cols)
                orders = rankings(flat, generator)
                for t, cell in enumerate(orders[:, 0].tolist()):
                    tops[t].append(list(divmod(int(cell), cols)))
                if sample.boxes and image == sample.box_image:
                    size = trace.image_layouts[image].size
                    target = torch.zeros(rows, cols, dtype=torch.bool)
                    for box in sample.boxes:
                        target |= box_cells(box, size, (rows, cols))
                    target = target.reshape(-1)
                    hits = pointing(orders, target).tolist()
                    shares = energy(flat, target).tolist()
            columns[f"top_{name}"] = tops
            columns[f"pointing_{name}"] = hits
            columns[f"energy_{name}"] = shares
        return columns

    def __call__(
        self, index: int, sample_id: Any, record: Any, base: Path, shard: Path, out: Path, attempt: int
    ) -> dict[str, Any]:
        """The sample's row; its trace and maps files are in place when the row says ``ok``."""
        timing: dict[str, float] = {}
        clock = time.perf_counter()
        row: dict[str, Any] = {"id": sample_id, "index": index, "attempt": attempt, "status": "failed"}
        row |= {"question": None, "answer": None, "answer_source": None}
        trace = None
        try:
            row |= metadata(record)
            sample = prepare(record, index, base)
            row["question"] = sample.question
            row["box"] = [list(box) for box in sample.boxes] or None
            row["box_image"] = sample.box_image if sample.boxes else None
            inputs = _chat_inputs(self.processor, sample.messages, self.device)
            timing["prepare"] = time.perf_counter() - clock
            ids, source = self.sequence(sample, inputs)
            prompt_len = int(inputs["input_ids"].shape[1])
            row["answer_source"] = source
            row["answer"] = _tokenizer(self.processor).decode(ids[0, prompt_len:], skip_special_tokens=True).strip()
            timing["generate"] = time.perf_counter() - clock - sum(timing.values())
            trace = self.extractor.capture(**inputs, generated_ids=ids, images=sample.images)
            timing["capture"] = time.perf_counter() - clock - sum(timing.values())
            positions = list(range(trace.gen_start, len(trace.token_ids)))
            maps = self.maps(trace, positions)
            strings = trace.token_strings
            row["tokens"] = [strings[p] for p in positions]
            row["special"] = [trace.special_mask[p] for p in positions]
            row["positions"] = positions
            row["grid"] = [list(per_image.shape[1:]) for per_image in next(iter(maps.values()))]
            row |= self.scores(sample, trace, maps)
            timing["maps"] = time.perf_counter() - clock - sum(timing.values())
            name = store.file_name(sample_id)
            trace_path = shard / "traces" / f"{name}.safetensors"
            maps_path = shard / "maps" / f"{name}.safetensors"
            store.write_atomic(trace_path, trace.save, fsync=self.fsync)
            tensors = {f"{method}/{image}": m for method, ms in maps.items() for image, m in enumerate(ms)}
            tensors["positions"] = torch.tensor(positions, dtype=torch.long)
            header = {"id": json.dumps(sample_id), "methods": json.dumps(list(maps)), "format": str(FORMAT)}
            store.write_atomic(maps_path, lambda part: save_file(tensors, str(part), metadata=header), fsync=self.fsync)
            row["trace"] = trace_path.relative_to(out).as_posix()
            row["maps"] = maps_path.relative_to(out).as_posix()
            row["status"] = "ok"
            row["error"] = None
            timing["write"] = time.perf_counter() - clock - sum(timing.values())
        except Exception as error:  # a failing sample is recorded and the run goes on
            row["status"] = "failed"
            row["error"] = f"{type(error).__name__}: {error}"
            row["traceback"] = "".join(traceback.format_exception(error, limit=-8))
            row.pop("trace", None)
            row.pop("maps", None)
            trace = None
            if isinstance(error, torch.OutOfMemoryError if hasattr(torch, "OutOfMemoryError") else MemoryError):
                _free_accelerator_memory()
        del trace
        row["seconds"] = time.perf_counter() - clock
        row["timing"] = timing
        return cast(dict[str, Any], json_safe(row))


def _free_accelerator_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _settings(model: Any, methods: dict[str, Method], extractor: SaliencyExtractor, **options: Any) -> dict[str, Any]:
    """What a run's results depend on, as JSON: a resumed run must have the same."""
    config = getattr(model, "config", None)
    return json_safe(
        {
            "format": FORMAT,
            "model": getattr(config, "_name_or_path", None) or type(model).__name__,
            "model_class": type(model).__name__,
            "methods": list(methods),
            "layers": extractor.layers,
            "heads": extractor.heads,
            "rows": extractor.rows,
            "dtype": str(extractor.dtype).removeprefix("torch.") if extractor.dtype is not None else None,
            "gradients": extractor.gradients,
            **options,
        }
    )


def capture_dataset(
    model: Any,
    processor: Any,
    samples: Any,
    out: str | Path,
    *,
    methods: Sequence[Method | str] = DEFAULT_METHODS,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    rows: Literal["text", "answer"] = "answer",
    dtype: torch.dtype | None = torch.float16,
    gradients: Gradients = "token",
    max_trace_bytes: int | None = None,
    max_new_tokens: int = 16,
    generate_kwargs: dict[str, Any] | None = None,
    reduce: Reduction = "mean",
    align: Align = "predicting",
    seed: int = 0,
    retry_failed: bool = False,
    base: str | Path | None = None,
    progress: bool = True,
    on_sample: Callable[[dict[str, Any]], None] | None = None,
    state: Any = None,
    fsync: bool = False,
) -> Run:
    """Capture every sample of a dataset to ``out``: one trace file per sample, precomputed maps, one summary.

    For each sample: the chat template of its pictures and question; its answer, given (teacher forced) or generated
    (greedy, at most ``max_new_tokens``); one ``SaliencyExtractor.capture``; per method of ``methods``, every answer
    token's map reduced over layers and heads (``reduce``) on each picture; the top cell of each, and with boxes the
    pointing and energy scores (``lib.scores``); then the trace (``Trace.save``), the maps and the summary row.

    Started again with the same arguments on the same ``out``, it does only the samples without a row (see
    ``store``); a sample that raises is recorded as failed with its error and the run goes on (``retry_failed``
    redoes those). Under ``accelerate launch`` the samples are split between the processes.

    Args:
        model, processor: a Hugging Face image-text-to-text model (on its device) and its processor.
        samples: records (see ``vl_saliency_widget.runs.records``): a JSON-lines file, a sequence, a
            ``datasets.Dataset`` or any iterable.
        out: the run's folder.
        methods: what to precompute, by name ("attn", "grad", ``lib.METHODS``' names) or as method objects; their
            declared needs go to the extractor.
        layers, heads, rows, dtype, gradients, max_trace_bytes: ``SaliencyExtractor``'s options; the defaults
            (``rows="answer"``, float16) keep a trace small.
        max_new_tokens, generate_kwargs: generation (greedy unless ``generate_kwargs`` says otherwise).
        reduce: the layer and head reduction of the precomputed maps.
        align: the row each token is mapped from (``trace.map``'s ``align``).
        seed: seed of the tie-breaking order between equal cells (per sample, from the seed and the id).
        retry_failed: redo the samples recorded as failed.
        base: folder of relative picture paths (default: the JSON-lines file's folder, else the working directory).
        progress: show a progress line on the main process.
        on_sample: called with each row once it is written (in the process that wrote it).
        state: accelerate's ``PartialState`` (default: this process's, or one process without accelerate).
        fsync: flush every file to the disk before it counts as written (survives a power cut, not only a kill).

    Returns:
        The finished run (``Run.load(out)``), in every process.

    Raises:
        ValueError: repeated sample ids, an unknown method, or ``out`` holds a run with other settings.
    """
    out = Path(out)
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, not {max_new_tokens}.")
    check_reduction(reduce, "reduce")
    if align not in ("predicting", "token"):
        raise ValueError(f"align must be 'predicting' or 'token', not {align!r}.")
    state = state if state is not None else process_state()
    resolved = resolve_methods(methods)
    needs = needs_of_all(list(resolved.values()))
    extractor = SaliencyExtractor(
        model,
        processor,
        store_attns=needs.attention,
        store_grads=needs.gradients,
        gradients=gradients,
        layers=layers,
        heads=heads,
        dtype=dtype,
        max_trace_bytes=max_trace_bytes,
        methods=[m for m in resolved.values() if not isinstance(m, str)],
        rows=rows,
    )
    table = Samples(samples, base)
    settings = _settings(
        model,
        resolved,
        extractor,
        max_new_tokens=max_new_tokens,
        generate_kwargs=dict(generate_kwargs or {}),
        reduce=reduce,
        align=align,
        seed=seed,
    )
    found = store.read_settings(out)
    if found is not None and found.get("settings") != settings:
        different = sorted(
            k
            for k in settings.keys() | found.get("settings", {}).keys()
            if settings.get(k) != found.get("settings", {}).get(k)
        )
        raise ValueError(
            f"{out} holds a run with other settings ({', '.join(different)}): resume it with the same ones, or "
            "write to another folder."
        )
    latest = store.latest_rows(out)
    todo = [
        i
        for i, sample_id in enumerate(table.ids)
        if not store.is_done(latest.get(store.key(sample_id)), out, retry_failed)
    ]
    state.wait_for_everyone()  # every process has read what was done before any of them writes
    if state.is_main_process and found is None:
        out.mkdir(parents=True, exist_ok=True)
        store.write_text_atomic(out / store.RUN_FILE, json.dumps({"settings": settings}, indent=1) + "\n")
    sampler = _Sampler(
        model,
        processor,
        extractor,
        resolved,
        max_new_tokens=max_new_tokens,
        generate_kwargs=dict(generate_kwargs or {}),
        reduce=reduce,
        align=align,
        seed=seed,
        fsync=fsync,
    )
    started = time.perf_counter()
    shard = out / f"{store.SHARD_PREFIX}{state.process_index}"
    with state.split_between_processes(todo) as mine:
        mine = list(mine)
        description = "samples" if state.num_processes == 1 else f"process 0 of {state.num_processes}: samples"
        bar = Progress(len(mine), enabled=progress and state.is_main_process, description=description)
        writer = store.ShardWriter(shard, fsync=fsync)
        try:
            for index in mine:
                sample_id = table.ids[index]
                previous = latest.get(store.key(sample_id))
                attempt = int(previous.get("attempt", 0)) + 1 if previous is not None else 1
                row = sampler(index, sample_id, table.record(index), table.base, shard, out, attempt)
                writer.append(row)
                bar.update(row["status"] == "ok")
                if on_sample is not None:
                    on_sample(row)
        finally:
            writer.close()
            bar.close()
    state.wait_for_everyone()
    seconds = time.perf_counter() - started
    if state.is_main_process:
        merged = store.merge(out, table.ids)
        counts = {s: sum(r["status"] == s for r in merged) for s in ("ok", "failed")}
        last = {
            "processes": state.num_processes,
            "todo": len(todo),
            "loop_seconds": seconds,
            "samples_per_second": len(todo) / seconds if seconds > 0 else None,
        }
        info = {"settings": settings, "samples": len(table), **counts, "last": last}
        store.write_text_atomic(out / store.RUN_FILE, json.dumps(info, indent=1) + "\n")
    state.wait_for_everyone()
    return Run.load(out)
