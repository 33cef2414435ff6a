"""The package's layers point one way: sources -> affordance -> grasping -> selection ->
execution. A layer imports only those before it (and the shared top-level modules), and nothing
a real robot runs imports the twin (``sim``), the ROS layer or the apps."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "affordance_grasp"
LAYERS = ["sources", "affordance", "grasping", "selection", "execution"]
ON_TOP = {"sim", "ros", "apps", "pipeline", "cli"}


def imported_packages(source: str, here: tuple):
    """The first component under affordance_grasp of every module ``source`` imports, for a
    module in the package folder ``here`` (e.g. ("execution",))."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(here[:len(here) - (node.level - 1)]) if node.level > 1 else list(here)
                parts = base + (node.module.split(".") if node.module else [])
                if not parts:       # "from . import x" at the top level
                    parts = [a.name for a in node.names]
            elif node.module and node.module.startswith("affordance_grasp."):
                parts = node.module.split(".")[1:]
            else:
                continue
            names = [parts[0]] if parts else []
            if node.module is None:   # "from .. import sim": the names are the packages
                names = [a.name for a in node.names] if not base else names
            yield from names
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("affordance_grasp."):
                    yield a.name.split(".")[1]


def test_layers_import_only_the_layers_before_them():
    bad = []
    for i, layer in enumerate(LAYERS):
        allowed_not = set(LAYERS[i + 1:]) | ON_TOP
        for path in sorted((PKG / layer).rglob("*.py")):
            for pkg in imported_packages(path.read_text(), path.relative_to(PKG).parts[:-1]):
                if pkg in allowed_not:
                    bad.append(f"{path.relative_to(PKG)} imports {pkg}")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_relative_and_absolute_imports():
    src = ("from ..sim.world import SimWorld\nimport affordance_grasp.ros.common\nfrom .base import Executor\n"
           "from .. import apps\nfrom affordance_grasp.pipeline import GraspPipeline\n")
    assert list(imported_packages(src, ("execution",))) == ["sim", "ros", "execution", "apps", "pipeline"]
