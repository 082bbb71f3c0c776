"""The layers of course_lib (CONTRIBUTING.md, "Architecture"): who may import whom, and no import cycles.

The import graph is read with ``ast`` from the source, so imports inside functions count as much as those at the
top of a module: a cycle hidden in a function is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "course_lib"

# layer -> the layers it may import (besides itself, where noted in SAME_LAYER_OK)
LAYERS = {
    "env": set(),
    "base": {"env"},  # config, hub, results, precision
    "tools": {"env", "base"},  # viz, nbtools, notebooks, grading
    "data": {"env", "base", "tools"},
    "nn": {"env", "base", "tools"},
    "train": {"env", "base", "tools", "data", "nn"},
    "experiments": {"env", "base", "tools", "data", "nn", "train"},  # shared experiments and the protocol
    "chapters": {"env", "base", "tools", "data", "nn", "train", "experiments"},  # leaves: no chapter imports another
    "reference": {"env", "base", "tools", "data", "nn", "train", "experiments", "chapters"},  # ours vs the source
    "exercises": {"env", "base", "tools", "data", "nn", "train", "experiments", "chapters"},
    "package": {"env", "base", "tools", "data", "nn", "train", "experiments", "chapters", "reference",
                "exercises"},  # course_lib/__init__
}
# inside a layer, modules may import each other (the graph must stay acyclic); chapter modules may not
SAME_LAYER_OK = {"env", "base", "data", "nn", "train", "experiments", "exercises"}  # env: env.py reads hub_ids


def layer_of(module: str) -> str:
    parts = module.split(".")
    if parts == ["course_lib"]:
        return "package"
    head = parts[1]
    if head in ("env", "hub_ids"):
        return "env"
    if head in ("config", "hub", "results", "precision"):
        return "base"
    if head in ("viz", "nbtools", "notebooks", "grading", "grader"):
        return "tools"
    if head in ("fidelity", "gpu_estimates", "rehearsal"):
        return "reference"
    if head in ("data", "nn", "train", "experiments", "chapters", "exercises"):
        return head
    raise AssertionError(f"{module} belongs to no layer: add it to tests/test_architecture.py and CONTRIBUTING.md")


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def known_modules() -> set[str]:
    return {module_name(p) for p in PACKAGE.rglob("*.py")}


def resolve(name: str, known: set[str]) -> str | None:
    """The course_lib module that ``name`` (a module or a module attribute) lives in."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def import_edges() -> dict[str, dict[str, int]]:
    """``{importer: {imported module: line}}`` for every import of course_lib, at any depth of the code."""
    known, edges = known_modules(), {}
    for path in sorted(PACKAGE.rglob("*.py")):
        importer, out = module_name(path), {}
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                # `from course_lib.x import y`: y may be a submodule or a name in x
                targets = [f"{base}.{alias.name}" for alias in node.names] or [base]
            for target in targets:
                if target.split(".")[0] != "course_lib":
                    continue
                imported = resolve(target, known)
                if imported and imported != importer:
                    out.setdefault(imported, node.lineno)
        edges[importer] = out
    return edges


def test_every_module_sits_in_a_layer():
    for module in known_modules():
        layer_of(module)


def test_imports_follow_the_layers():
    bad = []
    for importer, imported in import_edges().items():
        src = layer_of(importer)
        for target, line in imported.items():
            dst = layer_of(target)
            allowed = dst in LAYERS[src] or (dst == src and src in SAME_LAYER_OK)
            if src == "package" and target.startswith(importer + "."):
                allowed = allowed or dst in LAYERS[src]
            if not allowed:
                bad.append(f"{importer} ({src}) imports {target} ({dst}) at line {line}")
    assert not bad, "imports against the layer rule (see CONTRIBUTING.md, Architecture):\n" + "\n".join(bad)


def test_no_import_cycles():
    edges = {m: set(t) for m, t in import_edges().items()}
    # a package's __init__ is imported whenever one of its modules is: it must not import them back
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state.get(nxt) is None:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for module in sorted(edges):
        if state.get(module) is None:
            cycle = visit(module)
            if cycle:
                pytest.fail("import cycle: " + " -> ".join(cycle))


def test_the_rule_itself():
    """Mechanics never reach up to chapters, nn/data never to train, env to nothing."""
    assert layer_of("course_lib.train.classifier") == "train"
    assert "chapters" not in LAYERS["train"] and "train" not in LAYERS["nn"] and "train" not in LAYERS["data"]
    assert "chapters" not in LAYERS["data"] | LAYERS["nn"] | LAYERS["base"] | LAYERS["tools"]
    assert LAYERS["env"] == set()
    assert "chapters" not in SAME_LAYER_OK and "chapters" not in LAYERS["experiments"]


def test_no_hub_id_is_typed_outside_the_registry():
    """Every Hugging Face Hub id is typed once, in course_lib/hub_ids.py: the package, the scripts, the benchmarks and
    the chapters name them through it (a string literal that is exactly an id is a second copy)."""
    import io
    import re
    import tokenize

    from course_lib import hub_ids

    ids = {*hub_ids.MODELS, *hub_ids.DATASETS, hub_ids.GLOVE}
    root = PACKAGE.parent
    found = []
    for path in sorted([*PACKAGE.rglob("*.py"), *(root / "scripts").glob("*.py"), *(root / "benchmarks").glob("*.py")]):
        if path.name == "hub_ids.py":
            continue
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if tok.type == tokenize.STRING and tok.string.strip("'\"") in ids:
                found.append(f"{path.relative_to(root)}:{tok.start[0]} {tok.string}")
    for path in sorted((root / "book").glob("*.md")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            found += [f"{path.relative_to(root)}:{n} {m}" for m in re.findall(r"[\"']([\w.-]+/[\w.-]+)[\"']", line)
                      if m in ids]
    assert not found, "hub ids typed outside course_lib/hub_ids.py:\n" + "\n".join(found)
