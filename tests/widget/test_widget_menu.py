"""What the widget's method menu offers and says, and the traits' documentation."""

from __future__ import annotations

import re

from vl_saliency_widget.widget import SaliencyWidget


def test_every_trait_is_documented_and_the_docstring_names_the_synced_ones() -> None:
    own = SaliencyWidget.class_own_traits()
    assert all(trait.help for trait in own.values()), [name for name, trait in own.items() if not trait.help]
    doc = SaliencyWidget.__doc__ or ""
    found = re.search(r"Synced with the view: (.*?)\. In Python only: (.*?)\.", doc, re.S)
    assert found, "the class docstring no longer lists the synced traits"
    synced, python_only = found.groups()
    assert set(re.findall(r"``(\w+)``", synced)) == set(SaliencyWidget.class_own_traits(sync=True))
    assert set(re.findall(r"``(\w+)``", python_only)) == set(own) - set(SaliencyWidget.class_own_traits(sync=True))
