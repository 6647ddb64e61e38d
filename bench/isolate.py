"""Run one measurement in its own process, with a wall-clock timeout and a memory limit.

Children are forked from a server process that has already imported torch, transformers and both libraries, so a
measurement starts in well under a second. A child reports its peak resident set size (``ru_maxrss``) and its
resident set size just before the measured call, so the peak above the built model and inputs is ``peak - before``.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

_PRELOAD = ["torch", "transformers", "vl_saliency", "vl_saliency_widget", "bench.models", "bench.workloads"]
_context = mp.get_context("forkserver")
_context.set_forkserver_preload(_PRELOAD)


def rss_bytes() -> int:
    """The current resident set size of this process, in bytes (``VmRSS``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no VmRSS line: peak memory is measured on Linux only.")


def peak_rss_bytes() -> int:
    """The peak resident set size of this process so far, in bytes (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _child(send: Connection, fn: Callable[..., dict[str, Any]], kwargs: dict[str, Any], memory_limit: int) -> None:
    import torch

    torch.set_num_threads(kwargs.pop("threads"))
    if memory_limit > 0:
        resource.setrlimit(resource.RLIMIT_DATA, (memory_limit, memory_limit))
    try:
        result = {"status": "ok", **fn(**kwargs)}
    except MemoryError:
        result = {"status": "out of memory", "error": f"over the {memory_limit / 2**30:.0f} GiB limit"}
    except RuntimeError as error:
        oom = "can't allocate memory" in str(error) or "not enough memory" in str(error)
        status = "out of memory" if oom else "error"
        result = {"status": status, "error": str(error).splitlines()[0][:300]}
    except Exception as error:
        result = {"status": "error", "error": f"{type(error).__name__}: {error}"[:300], "trace": traceback.format_exc()}
    result["peak_rss"] = peak_rss_bytes()
    send.send(result)
    send.close()


def isolated(
    fn: Callable[..., dict[str, Any]], *, timeout: float, memory_limit: int = 0, threads: int = 1, **kwargs: Any
) -> dict[str, Any]:
    """``fn(**kwargs)`` in a fresh process; its result dict plus ``status`` and ``peak_rss`` (bytes).

    ``status`` is "ok", "timeout" (killed after ``timeout`` seconds), "out of memory" (an allocation failed under
    ``memory_limit`` bytes of data segment, 0 for none), "killed" (the process died, e.g. by the kernel's OOM killer)
    or "error".
    """
    receive, send = _context.Pipe(duplex=False)
    process = _context.Process(target=_child, args=(send, fn, {**kwargs, "threads": threads}, memory_limit))
    process.start()
    send.close()
    try:
        if receive.poll(timeout):
            return receive.recv()
        return {"status": "timeout", "error": f"no result after {timeout:.0f} s"}
    except EOFError:
        process.join()
        return {"status": "killed", "error": f"the process died (exit code {process.exitcode})"}
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        receive.close()
