"""The gallery: a run's samples as a grid of thumbnails, ``display(SaliencyGallery(run))``.

``gallery`` holds the widget class (traits and observers); beside it one module per concern:

- ``index``: the summary's sortable columns as arrays, and the order of the rows shown (filters, then sort);
- ``cards``: what a card shows, read from the run's files when asked (picture thumbnails, maps reduced over the
  answer's tokens), with bounded caches;
- ``protocol``: the view's requests for cards and their answers (two binary buffers each);
- ``export``: a page of the gallery as one self-contained HTML file.
"""

from .gallery import SaliencyGallery

__all__ = ["SaliencyGallery"]
