#!/usr/bin/env python3
"""Keep the code deps of dvc.yaml exact: every project module a stage's entry point imports, nothing more.

    .venv/bin/python scripts/dvc_deps.py --check   # exit 1 and a diff per stage when dvc.yaml is off
    .venv/bin/python scripts/dvc_deps.py --write   # rewrite only the `deps:` lists of dvc.yaml

Rule (tests/orchestration/test_dvc_deps.py enforces it): a stage whose ``cmd`` runs
``-m pipelines.<x>`` depends on the files of every module of ``churnguard`` (folder ``components/``) and ``pipelines/``
that ``pipelines/<x>.py`` imports, transitively (imports inside functions count: they run), plus
the ``__init__.py`` of each package on the way (Python executes them). Files, not folders: a folder
dep would also cover modules the stage never imports (and ``__pycache__``). Data deps (anything
outside those two packages) are kept as written, after the code deps. Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("churnguard", "pipelines")  # import names
FOLDERS = {"churnguard": "components", "pipelines": "pipelines"}  # import name -> source folder
ENTRY = re.compile(r"-m\s+(pipelines\.[\w.]+)")
LOADER = re.compile(r"[\"'](churnguard\.[\w.]+):\w+[\"']")


def module_file(repo: Path, name: str) -> Path | None:
    top, *rest = name.split(".")
    base = repo.joinpath(FOLDERS.get(top, top), *rest)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _executed_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node except those that never run when the module is imported for a stage: ``if TYPE_CHECKING:``
    bodies and a module-level ``__getattr__`` (PEP 562 lazy names: the package's top-level API, which no
    stage touches; counting it made every stage depend on every module)."""
    nodes: list[ast.AST] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Module):
            todo.extend(n for n in node.body if not (isinstance(n, ast.FunctionDef) and n.name == "__getattr__"))
            continue
        todo.extend(ast.iter_child_nodes(node))
    return nodes


def _imported_names(path: Path, package: str) -> set[str]:
    """Dotted names a module imports (absolute; relative ones resolved against ``package``)."""
    names: set[str] = set()
    for node in _executed_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return {n for n in names if n.split(".")[0] in PACKAGES}


def part_loaders(repo: Path) -> set[str]:
    """Modules a ModelBundle imports by name: the ``"churnguard.x:load_part"`` loader strings of part.json."""
    found = set()
    for path in (repo / "components").rglob("*.py"):
        found.update(LOADER.findall(path.read_text()))
    return found


def builds_bundle(path: Path) -> bool:
    """Does this module call ``ModelBundle(...)`` (which imports every part's loader dynamically)?"""
    return any(
        isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == "ModelBundle"
        for n in ast.walk(ast.parse(path.read_text(), str(path)))
    )


def project_imports(repo: Path, entry: str) -> set[Path]:
    """Files of every project module ``entry`` imports, transitively, with their packages' __init__.py.

    A module that builds a ModelBundle also imports every part loader (by name, at run time)."""
    seen: set[Path] = set()
    todo = [entry]
    loaders_added = False
    while todo or not loaders_added:
        if not todo:
            loaders_added = True
            if any(builds_bundle(p) for p in seen):
                todo.extend(part_loaders(repo))
            continue
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__, then c
            path = module_file(repo, ".".join(parts[:i]))
            if path is None or path in seen:
                continue
            seen.add(path)
            is_package = path.name == "__init__.py"
            package = ".".join(parts[:i] if is_package else parts[: i - 1])
            todo.extend(_imported_names(path, package))
    return seen


def is_code(dep: str) -> bool:
    return dep.split("/", 1)[0] in FOLDERS.values()


def stage_entries(dvc_text: str) -> dict[str, str]:
    """{stage: entry module} for the stages whose cmd runs ``-m pipelines.<x>``."""
    import yaml

    stages = (yaml.safe_load(dvc_text) or {}).get("stages") or {}
    out = {}
    for name, stage in stages.items():
        cmd = stage.get("cmd") or ""
        match = ENTRY.search(cmd if isinstance(cmd, str) else " ".join(cmd))
        if match:
            out[name] = match.group(1)
    return out


def expected_deps(repo: Path, dvc_text: str) -> dict[str, list[str]]:
    """{stage: its deps as the rule wants them}: sorted code files, then the stage's data deps as written."""
    import yaml

    stages = yaml.safe_load(dvc_text)["stages"]
    out = {}
    for name, entry in stage_entries(dvc_text).items():
        code = sorted(p.relative_to(repo).as_posix() for p in project_imports(repo, entry))
        data = [d for d in (stages[name].get("deps") or []) if isinstance(d, str) and not is_code(d)]
        out[name] = code + data
    return out


def rewrite_deps(dvc_text: str, wanted: dict[str, list[str]]) -> str:
    """dvc.yaml with only the ``deps:`` lists of the given stages replaced (comments, order, rest kept)."""
    lines, out, stage, i = dvc_text.splitlines(keepends=True), [], None, 0
    while i < len(lines):
        line = lines[i]
        if m := re.match(r"^  ([\w.-]+):\s*$", line):
            stage = m.group(1)
        if stage in wanted and (m := re.match(r"^(\s+)deps:\s*$", line)):
            indent = m.group(1)
            out.append(line)
            i += 1
            while i < len(lines) and re.match(rf"^{indent}\s+- ", lines[i]):  # the old list items
                i += 1
            out.extend(f"{indent}  - {dep}\n" for dep in wanted[stage])
            continue
        out.append(line)
        i += 1
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="report stages whose code deps differ; exit 1 if any")
    mode.add_argument("--write", action="store_true", help="rewrite the deps: lists of dvc.yaml in place")
    parser.add_argument("--repo", type=Path, default=REPO, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    dvc_file = args.repo / "dvc.yaml"
    text = dvc_file.read_text()
    import yaml

    current = {n: list(s.get("deps") or []) for n, s in yaml.safe_load(text)["stages"].items()}
    wanted = expected_deps(args.repo, text)
    wrong = {n: deps for n, deps in wanted.items() if deps != current[n]}
    if args.write:
        if wrong:
            dvc_file.write_text(rewrite_deps(text, wrong))
        print(f"dvc.yaml: deps rewritten for {len(wrong)} stage(s): {', '.join(wrong) or 'none'}")
        return 0
    for name, deps in wrong.items():
        missing, extra = sorted(set(deps) - set(current[name])), sorted(set(current[name]) - set(deps))
        print(
            f"{name}: missing {missing or '-'}; not imported {extra or '-'}"
            + ("" if missing or extra else "; order differs")
        )
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
