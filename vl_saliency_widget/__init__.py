"""vl-saliency-widget: where a vision-language model looked when it produced each token."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .core.extractor import SaliencyExtractor
from .core.map import SaliencyMap
from .core.trace import Trace
from .transforms.pipe import Pipeline

if TYPE_CHECKING:
    from .widget import SaliencyWidget

__all__ = ["Pipeline", "SaliencyExtractor", "SaliencyMap", "SaliencyWidget", "Trace"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The widget pulls in anywidget and ipywidgets (a second or so): imported when first asked for, so that
    # `import vl_saliency_widget` stays fast in scripts and batch runs that never display it.
    if name == "SaliencyWidget":
        from .widget import SaliencyWidget

        return SaliencyWidget
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
