"""GLM-4.1V (``glm4v``), GLM-4.5V (``glm4v_moe``) and GLM-4.6V (``glm46v``): Qwen-VL's layout.

``Glm4vProcessor`` writes ``<|begin_of_image|>`` + ``<|image|>`` x (t * h * w / merge^2) + ``<|end_of_image|>``,
where (t, h, w) is the image's row of ``image_grid_thw`` in patches. The image processor orders the patches in
merge x merge blocks, block after block row-major over the picture (the same patchify as Qwen2-VL's), the tower's
strided convolution turns each block into one feature, and the model scatters the features in order into the
``<|image|>`` embeddings: an (h / merge) x (w / merge) grid, row-major, exactly as Qwen-VL's layout reads it.
"""

from __future__ import annotations

from .base import register_layout, register_pictures
from .qwen import qwen_vl_layout, qwen_vl_pictures

for _name in ("glm4v", "glm4v_moe", "glm46v"):
    register_layout(_name, qwen_vl_layout)
    register_pictures(_name, qwen_vl_pictures)
