"""vl-saliency-widget: where a vision-language model looked when it produced each token.

The public names are imported when first used (``from vl_saliency_widget import SaliencyExtractor`` imports the
core, ``SaliencyWidget`` the widget stack), so that the package and its command line start without loading torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes

if TYPE_CHECKING:
    from .core.extractor import SaliencyExtractor
    from .core.map import SaliencyMap
    from .core.trace import Trace
    from .gallery import SaliencyGallery
    from .transforms.pipe import Pipeline
    from .widget import SaliencyWidget

__all__ = ["Pipeline", "SaliencyExtractor", "SaliencyGallery", "SaliencyMap", "SaliencyWidget", "Trace"]
__version__ = "0.1.0"

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "SaliencyExtractor": ".core.extractor",
        "SaliencyMap": ".core.map",
        "Trace": ".core.trace",
        "Pipeline": ".transforms.pipe",
        "SaliencyWidget": ".widget",
        "SaliencyGallery": ".gallery",
    },
)
