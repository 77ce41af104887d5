"""The structure the next engineer relies on, checked on every run.

Every module's imports (those inside functions too) are read from the source
with ``ast``, so a new cycle or a Kafka import outside its layer fails here
rather than surfacing as an import-order surprise later.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"pipeline": "callradar.pipeline", "models": "callradar.models", "training": "callradar.training",
           "agents": "callradar.agents"}
KAFKA_LAYER = "callradar.pipeline.kafka"
CLI = "callradar.pipeline.cli"
KAFKA_LIBRARIES = {"kafka", "aiokafka", "faust", "mode"}
# Who may import whom, by package prefix. Read top-down: a row names what that part may use
# besides itself; the most specific row applies. The CLI sits on top and may use everything,
# so it is not listed.
MAY_IMPORT = {
    "callradar.models": (),
    "callradar.pipeline.errors": (),
    "callradar.pipeline.settings": ("callradar.pipeline.errors", "callradar.models"),
    "callradar.pipeline.records": ("callradar.models",),
    "callradar.agents": ("callradar.models", "callradar.pipeline.errors", "callradar.pipeline.records",
                         "callradar.pipeline.settings"),
    "callradar.pipeline.audio": ("callradar.models", "callradar.pipeline.errors", "callradar.pipeline.settings",
                                 "callradar.pipeline.records"),
    "callradar.pipeline.stages": ("callradar.models", "callradar.agents", "callradar.pipeline.audio",
                                  "callradar.pipeline.errors", "callradar.pipeline.settings",
                                  "callradar.pipeline.records"),
    "callradar.agents.console": ("callradar.agents", "callradar.models", "callradar.pipeline.errors",
                                 "callradar.pipeline.records", "callradar.pipeline.settings", KAFKA_LAYER),
    "callradar.training": ("callradar.models", "callradar.agents", "callradar.pipeline.audio",
                           "callradar.pipeline.stages", "callradar.pipeline.simulator", "callradar.pipeline.errors",
                           "callradar.pipeline.settings", "callradar.pipeline.records", KAFKA_LAYER),
}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([FOLDERS[parts[0]], *parts[1:]])


def source_modules() -> dict[str, Path]:
    found = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found[module_name(path)] = path
    return found


MODULES = source_modules()


def imports_of(name: str, path: Path) -> list[tuple[str, int]]:
    """Every module named by an import statement in the file, with its line."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # "from callradar.x import y" may name the module callradar.x.y
            found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names
                      if f"{target}.{alias.name}" in MODULES]
    return found


def internal_graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        targets = set()
        for target, _ in imports_of(name, path):
            # the longest known module the import names (a name imported from a module counts as that module)
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name and not MODULES[target].name == "__init__.py":
                targets.add(target)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_there_is_no_import_cycle():
    found = cycles(internal_graph())
    assert not found, "import cycles (move the shared types or constants down a layer): " + "; ".join(
        " <-> ".join(c) for c in found)


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_kafka_faust_and_aiokafka_are_imported_only_in_the_kafka_layer():
    outside = [f"{MODULES[name].relative_to(ROOT)}:{line} imports {target}"
               for name, path in MODULES.items() if not name.startswith(KAFKA_LAYER)
               for target, line in imports_of(name, path) if target.split(".")[0] in KAFKA_LIBRARIES]
    assert not outside, "Kafka is touched outside callradar.pipeline.kafka:\n" + "\n".join(outside)


def test_nothing_imports_a_generic_top_level_name():
    bare = [f"{MODULES[name].relative_to(ROOT)}:{line} imports {target}"
            for name, path in MODULES.items() for target, line in imports_of(name, path)
            if target.split(".")[0] in FOLDERS]
    for folder in ("tests", "bench", "notebooks"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
                bare += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names
                         if n.split(".")[0] in FOLDERS]
    assert not bare, "import through the callradar namespace:\n" + "\n".join(bare)


def rule_for(name: str) -> str | None:
    matches = [p for p in MAY_IMPORT if name == p or name.startswith(p + ".")]
    return max(matches, key=len) if matches else None


@pytest.mark.parametrize("part", sorted(MAY_IMPORT))
def test_each_part_imports_only_the_layers_below_it(part):
    graph = internal_graph()
    allowed = (part, *MAY_IMPORT[part])
    wrong = [f"{name} imports {target}" for name in graph if rule_for(name) == part
             for target in graph[name] if not any(target == a or target.startswith(a + ".") for a in allowed)]
    assert not wrong, f"{part} may import only {allowed}:\n" + "\n".join(sorted(wrong))


def test_only_the_command_imports_the_command():
    graph = internal_graph()
    wrong = [f"{name} imports {target}" for name, targets in graph.items() if not name.startswith(CLI)
             for target in targets if target.startswith(CLI)]
    assert not wrong, "the CLI sits on top; move what these need out of it:\n" + "\n".join(sorted(wrong))


def test_every_package_folder_is_installed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    assert listed == on_disk, f"pyproject.toml packages: missing {sorted(on_disk - listed)}, stale {sorted(listed - on_disk)}"
    assert all(name.partition(".")[0] not in FOLDERS for name in listed)
