"""The names users import from the package's top level."""

from __future__ import annotations

import subprocess
import sys

import vl_saliency_widget
from vl_saliency_widget.transforms import Pipeline as TransformsPipeline
from vl_saliency_widget.widget import SaliencyWidget as WidgetSaliencyWidget


def test_the_top_level_exports_the_reference_s_names_and_the_widget() -> None:
    # The reference library's __all__ is SaliencyExtractor, Trace, SaliencyMap, Pipeline; ours adds the widget.
    assert {"SaliencyExtractor", "Trace", "SaliencyMap", "Pipeline"} <= set(vl_saliency_widget.__all__)
    from vl_saliency_widget import Pipeline, SaliencyWidget

    assert Pipeline is TransformsPipeline
    assert SaliencyWidget is WidgetSaliencyWidget
    assert "SaliencyWidget" in vl_saliency_widget.__all__


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        vl_saliency_widget.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as error:
        assert "NoSuchThing" in str(error)
    else:
        raise AssertionError("an unknown attribute must raise AttributeError")


def test_importing_the_package_does_not_load_the_widget_stack() -> None:
    code = (
        "import sys, vl_saliency_widget\n"
        "assert 'anywidget' not in sys.modules and 'ipywidgets' not in sys.modules, 'imported eagerly'\n"
        "from vl_saliency_widget import SaliencyWidget\n"
        "assert 'anywidget' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_command_line_parses_without_loading_torch() -> None:
    # `vl-saliency-widget demo` only starts JupyterLab: its start must not wait for torch and transformers.
    code = (
        "import sys\n"
        "import vl_saliency_widget.demo.cli as cli\n"
        "args = cli.parser().parse_args(['demo', '--port', '8890'])\n"
        "assert args.port == 8890\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'imported eagerly'\n"
        "from vl_saliency_widget import SaliencyExtractor\n"
        "assert 'torch' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
