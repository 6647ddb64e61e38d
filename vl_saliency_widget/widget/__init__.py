"""The JupyterLab widget: ``display(SaliencyWidget(trace))``."""

from .saliency import SaliencyWidget

__all__ = ["SaliencyWidget"]
