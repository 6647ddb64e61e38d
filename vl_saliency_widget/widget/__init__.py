"""The JupyterLab widget: ``display(SaliencyWidget(trace))``.

``saliency`` holds the widget class: its traits and the observers that hand the work to one module per concern:

- ``methods``: the method menu, and why a method is not in it (what its declared needs lack);
- ``content``: what the view is told once (token strip, pictures) and checks on the trace and image;
- ``maps``: a token's map for what the controls hold, and which previews need no backward pass;
- ``previews``: every token's aggregated map in one buffer with ready flags, and the cache of full maps;
- ``protocol``: the messages from the view, parsed into typed requests, and those sent to it;
- ``regions``: image to text, compare and head rankings, as the traits hold them;
- ``reliance``: what the answer relies on: each answer token's reliance on the image, and the selected token's
  image share per layer and attribution to the text;
- ``export``: the self-contained HTML page; ``static``: what it holds to work without a kernel (every method's maps,
  the answer's layers x heads maps, the prompt and the answer);
- ``snapshot``: a still picture of the map on screen for pages where the view cannot run (nbconvert, GitHub);
- ``assets``: the built front end; ``serialize``: arrays as bytes.
"""

from .saliency import SaliencyWidget

__all__ = ["SaliencyWidget"]
