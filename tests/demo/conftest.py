"""The shipped toy models, loaded once for the demo tests."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import huggingface_hub
import pytest
import torch
from transformers import LlavaForConditionalGeneration, LlavaProcessor

from vl_saliency_widget.demo import load_binding_vlm, load_toy_vlm

Toy = tuple[LlavaForConditionalGeneration, LlavaProcessor]


def _refuse_network(*args: object, **kwargs: object) -> None:
    raise OSError("the toy models must load without network access")


def _offline(load: Callable[[], Toy]) -> Toy:
    """``load()`` with the Hugging Face hub offline and every socket connection refused."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        patch.setattr(socket.socket, "connect", _refuse_network)
        return load()


@pytest.fixture(scope="package")
def toy() -> Toy:
    """The shipped toy model, loaded offline."""
    return _offline(load_toy_vlm)


@pytest.fixture(scope="package")
def binding() -> Toy:
    """The shipped binding toy, loaded offline."""
    return _offline(load_binding_vlm)


@pytest.fixture(scope="package", autouse=True)
def one_thread() -> Iterator[None]:
    """Run the toy model on one thread: it is too small to gain from more, and on a busy machine a second thread
    made a 50-sample capture loop 50 times slower (45 s instead of 0.9 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
