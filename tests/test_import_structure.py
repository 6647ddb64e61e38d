"""The package's imports run one way: core knows no transforms, methods, widget, demo or test zoo, and no module
imports (at load time) a module that imports it back."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import vl_saliency_widget

PACKAGE = Path(vl_saliency_widget.__file__).parent
NAME = "vl_saliency_widget"


def _module_name(path: Path) -> str:
    parts = (NAME, *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(name: str, *, load_time_only: bool) -> set[str]:
    """The package modules ``name`` imports: at load time only (no ``if TYPE_CHECKING`` block, no import inside a
    function), or anywhere."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if load_time_only and (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            or (isinstance(node, ast.If) and _is_type_checking(node))
        ):
            return
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # "from . import a, b" names the package's own modules a and b, not its __init__.
            own = [] if node.level and not node.module else [target]
            for candidate in own + [f"{target}.{alias.name}" for alias in node.names]:
                if candidate in MODULES and candidate != name:
                    found.add(candidate)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in MODULES)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def test_the_walker_sees_relative_lazy_and_type_only_imports() -> None:
    trace = f"{NAME}.core.trace"
    assert f"{NAME}.core.map" in _imports(trace, load_time_only=True)
    assert f"{NAME}.viz.tokens" in _imports(trace, load_time_only=False) - _imports(trace, load_time_only=True)
    image_to_text = f"{NAME}.core.image_to_text"
    assert trace in _imports(image_to_text, load_time_only=False) - _imports(image_to_text, load_time_only=True)


def test_no_module_imports_one_that_imports_it_back_at_load_time() -> None:
    graph = {name: _imports(name, load_time_only=True) for name in MODULES}
    cycles = []
    state: dict[str, int] = defaultdict(int)  # 0 unseen, 1 on the path, 2 done
    path: list[str] = []

    def walk(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state[target] == 1:
                cycles.append([*path[path.index(target) :], target])
            elif state[target] == 0:
                walk(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if state[module] == 0:
            walk(module)
    assert not cycles, cycles


def test_core_imports_no_transform_method_widget_demo_zoo_or_selector() -> None:
    # The one way back, as pandas does for DataFrame.plot: drawing (viz) imported when a plot is asked for.
    allowed_lazy = {f"{NAME}.viz", f"{NAME}.viz.overlay", f"{NAME}.viz.tokens"}
    above = ("transforms", "lib", "widget", "demo", "testing", "selectors", "viz")
    wrong = {}
    for name in MODULES:
        if name.startswith(f"{NAME}.core"):
            loaded = _imports(name, load_time_only=True)
            anywhere = _imports(name, load_time_only=False)
            bad = {m for m in loaded if m.split(".")[1] in above}
            bad |= {m for m in anywhere - loaded if m.split(".")[1] in above and m not in allowed_lazy}
            if bad:
                wrong[name] = sorted(bad)
    assert not wrong


def test_shipped_code_imports_nothing_from_the_test_zoo() -> None:
    wrong = {
        name: sorted(m for m in _imports(name, load_time_only=False) if m.startswith(f"{NAME}.testing"))
        for name in MODULES
        if not name.startswith(f"{NAME}.testing")
    }
    assert not {k: v for k, v in wrong.items() if v}


def test_storage_knows_the_record_not_the_trace() -> None:
    storage = f"{NAME}.core.storage"
    assert f"{NAME}.core.trace" not in _imports(storage, load_time_only=False)
    assert f"{NAME}.core.record" in _imports(storage, load_time_only=True)
