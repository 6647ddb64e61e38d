"""The tiny model zoo: random-weight vision-language models with real Hugging Face processors, built offline.

``tiny_vlm(name)`` gives ``(model, processor)`` for each name in ``ARCHITECTURES``, every architecture the package
supports; ``tiny_image`` draws a small deterministic picture and ``tiny_inputs`` runs one chat turn through the
processor's chat template.
"""

from .images import tiny_image
from .zoo import ARCHITECTURES, tiny_inputs, tiny_vlm

__all__ = ["ARCHITECTURES", "tiny_image", "tiny_inputs", "tiny_vlm"]
