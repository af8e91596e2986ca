"""The package's layers: no module imports one from a higher layer, no import cycle, no project import hidden in a function.

Every module under ``monai_nad`` is parsed with :mod:`ast` (nothing is imported). Its layer is that of its subpackage
(or top-level module) in :data:`LAYERS`, bottom to top; a module may import modules of its own layer or a lower one.
The product (everything but :data:`RESEARCH`) never imports the research packages, whatever their rank. Imports at
module level and inside functions alike make the graph, which must have no cycle between modules; and a project
import inside a function is allowed only where :data:`DEFERRED` says why.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "monai_nad"

#: subpackage or top-level module -> rank, bottom to top (the README's "Layers" lists the same table)
LAYERS: dict[str, int] = {
    "monai_nad": 0,  # the package itself: __version__, the lazy subpackage attributes
    "_optional": 0,  # optional third-party packages, with the extra that installs them
    "transforms": 1,  # noise (estimate, correct, synthesise), augmentation, training pairs
    "losses": 1,
    "metrics": 1,
    "networks": 2,  # the Neural PDE and the other networks
    "data": 2,  # reading users' scans (data.scans) and the datasets (MNI, Colin27, Br35H, the real-anatomy cells)
    "engines": 3,  # checkpoints, training runs of a bundle and their records
    "baselines": 3,  # research: the classical denoisers and their tuning
    "diffdenoise": 3,  # research: the DiffDenoise pipeline
    "bundle": 4,  # the one bundle loader: find a bundle, read its configs, load its weights
    "inference": 5,  # denoising users' scans: noise level, slice-wise and volume inference, the bundle workflow
    "bids": 6,  # BIDS datasets in, BIDS derivatives out
    "cli": 7,  # monai-nad
    "experiments": 8,  # research: the evaluation loop (experiments.evaluation), suites, benchmarks, result pages, model cards
}
#: the research beside the product: the product never imports these
RESEARCH = {"baselines", "diffdenoise", "experiments"}

#: modules whose functions may import the project modules they need: the command line loads what a command needs
#: when it runs it, so ``monai-nad --help`` imports neither torch nor MONAI (tests/test_cli.py)
DEFERRING_MODULES = {"monai_nad.cli"}
#: (importing module, imported module) -> why the import waits until a function runs. Nothing else may.
DEFERRED: dict[tuple[str, str], str] = {
    # each timed method runs in a process of its own and imports only its own modules: its peak memory is the
    # process's (docs/results/volumes.md)
    ("monai_nad.experiments.volume_timing", "monai_nad.inference.workflow"): "the timed Neural PDE runs",
    ("monai_nad.experiments.volume_timing", "monai_nad.baselines"): "the timed BM4D run",
    ("monai_nad.experiments.volume_timing", "monai_nad.transforms.array"): "the timed BM4D run",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, int, bool]]:
    """``(imported project module, line, inside a function)`` for every project import of module ``name``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def resolve(target: str, names: list[str]) -> list[str]:
        # `from a.b import c` imports the module a.b.c when there is one, else a.b
        found = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
        return found if len(found) == len(names) else found + [target]

    def visit(node: ast.AST, in_function: bool) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "monai_nad":
                        yield alias.name, child.lineno, in_function
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.split(".")[0] == "monai_nad":
                    for module in resolve(target, [alias.name for alias in child.names]):
                        yield module, child.lineno, in_function
            yield from visit(child, inside)

    yield from visit(ast.parse(path.read_text(), str(path)), False)


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, str, int, bool]]]:
    modules = _modules()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    found = []
    for name, path in modules.items():
        for target, line, in_function in _imports(name, path, modules):
            found.append((name, target, line, in_function))
            if target != name:
                edges[name].add(target)
    return edges, found


def test_every_module_has_a_layer():
    unknown = sorted({_layer(name) for name in _modules()} - set(LAYERS))
    assert not unknown, f"give these subpackages/modules a layer in LAYERS (and the README's table): {unknown}"


def test_no_import_from_a_higher_layer():
    _, found = _graph()
    wrong = []
    for source, target, line, _ in found:
        low, high = _layer(source), _layer(target)
        if LAYERS.get(high, 0) > LAYERS.get(low, 0):
            wrong.append(f"{source}:{line} imports {target} (layer {high}, above {low})")
        elif high in RESEARCH and low not in RESEARCH:
            wrong.append(f"{source}:{line} imports {target}: the product never imports the research ({high})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    edges, _ = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target] if target in path else [node, target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_project_import_deferred_into_a_function():
    _, found = _graph()
    deferred = sorted({(s, t, line) for s, t, line, inside in found if inside and (s, t) not in DEFERRED and s not in DEFERRING_MODULES})
    assert not deferred, "import at module level instead (or give the reason in DEFERRED):\n" + "\n".join(
        f"{s}:{line} imports {t} inside a function" for s, t, line in deferred
    )
    unused = sorted(set(DEFERRED) - {(s, t) for s, t, _, inside in found if inside})
    assert not unused, f"DEFERRED lists imports that no longer wait: {unused}"


def test_the_denoising_command_line_names_the_research_commands_only_by_module():
    """``monai-nad compare`` is the one research command: the CLI module names its module and never imports it."""
    source = (PACKAGE / "cli.py").read_text()
    tree = ast.parse(source)
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {m for m in imported if m and m.startswith("monai_nad.experiments")}
    assert source.count("monai_nad.experiments") == 1 and 'RESEARCH_COMMANDS = "monai_nad.experiments.cli_commands"' in source
    assert (PACKAGE / "experiments" / "cli_commands.py").is_file()


@pytest.mark.parametrize("violation", ["import_up", "cycle", "deferred"])
def test_the_checks_fail_on_a_violation(violation):
    """Each check catches what it is for (a module added in memory to what the checks read)."""
    real = _imports
    extra = {
        "import_up": ("monai_nad.transforms.array", "monai_nad.inference", False),
        "cycle": ("monai_nad.networks.stencil", "monai_nad.networks.neural_pde", False),
        "deferred": ("monai_nad.networks.stencil", "monai_nad.transforms.array", True),
    }[violation]

    def with_violation(name: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, int, bool]]:
        yield from real(name, path, modules)
        if name == extra[0]:
            yield extra[1], 1, extra[2]

    globals()["_imports"] = with_violation
    try:
        check = {"import_up": test_no_import_from_a_higher_layer, "cycle": test_no_import_cycle,
                 "deferred": test_no_project_import_deferred_into_a_function}[violation]
        with pytest.raises(AssertionError):
            check()
    finally:
        globals()["_imports"] = real
