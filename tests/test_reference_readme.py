"""Every code example of the vl-saliency reference README runs with our import name, on every zoo model.

The examples are read from ``../shared/reference/vl-saliency-README.md`` and executed in order in one
namespace. Only what cannot run offline is replaced: loading a hub model and a picture from disk (the zoo
provides them), and the token index 200, which the tiny models may not reach.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest
from matplotlib.figure import Figure

from vl_saliency_widget import SaliencyMap
from vl_saliency_widget.testing import ARCHITECTURES, tiny_image, tiny_inputs, tiny_vlm
from vl_saliency_widget.transforms import TraceTransform

matplotlib.use("Agg")

README = Path(__file__).resolve().parents[2] / "shared" / "reference" / "vl-saliency-README.md"
OFFLINE_SETUP = ("AutoModel.from_pretrained", "AutoProcessor.from_pretrained", "PIL.Image.open", "processor(text=")


def readme_examples() -> list[str]:
    """The README's Python blocks, import renamed, hub loading lines dropped."""
    if not README.exists():
        pytest.skip(f"{README} is not present (it comes with the project's shared/ folder)")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    examples = []
    for block in blocks:
        code = block.replace("from vl_saliency", "from vl_saliency_widget")
        code = "\n".join(line for line in code.splitlines() if not any(s in line for s in OFFLINE_SETUP))
        examples.append(code.replace("token=200", "token=min(200, trace.total_generated_tokens - 1)"))
    return examples


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_readme_examples_run_verbatim(name: str) -> None:
    import torch

    model, processor = tiny_vlm(name)
    assert model.config.get_text_config()._attn_implementation != "eager"
    image = tiny_image()
    namespace = {
        "torch": torch,
        "model": model,
        "processor": processor,
        "image": image,
        "inputs": tiny_inputs(name, processor, images=[image]),
    }
    examples = readme_examples()
    assert len(examples) == 8
    # The README samples its answer (do_sample=True): seed it, so the run does not depend on the tests before it.
    torch.manual_seed(0)
    for code in examples:
        exec(compile(code, str(README), "exec"), namespace)

    # The last pipeline example ends with `.plot(...)`, so saliency_map is its figure.
    assert isinstance(namespace["saliency_map"], Figure)
    # The user-defined transforms of the last examples are usable as the README says.
    base = namespace["trace"].map(token=0)
    assert isinstance(base >> namespace["MyTransform"](), SaliencyMap)
    assert isinstance(base >> namespace["my_custom_transform"](), SaliencyMap)
    assert isinstance(namespace["my_custom_transform"](base), SaliencyMap)
    for fn in (namespace["my_trace_transform"], namespace["MyTraceTransform"]()):
        assert isinstance(fn, TraceTransform)
