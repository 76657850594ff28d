"""The longest functions and the largest modules of the repository's own Python (not tests), for
before/after figures in notes on structure work.

    python -m deploy.code_stats [--top 15] [PATH ...]     # default: services shared simulators muba deploy

A function's length is its lines from `def` (decorators included) to its last line, nested
functions included; nested functions and methods are listed too, by qualified name.
"""

import argparse
import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATHS = ("services", "shared", "simulators", "muba", "deploy")


@dataclass(frozen=True)
class Function:
    path: str
    name: str
    line: int
    lines: int


def python_files(paths: Sequence[str]) -> list[Path]:
    found: list[Path] = []
    for name in paths:
        path = ROOT / name if not Path(name).is_absolute() else Path(name)
        found += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [p for p in found if ".venv" not in p.parts and "__pycache__" not in p.parts]


def _functions(tree: ast.AST, path: str, prefix: str = "") -> Iterator[Function]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            end = node.end_lineno or node.lineno
            yield Function(path, prefix + node.name, first, end - first + 1)
            yield from _functions(node, path, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, path, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, path, prefix)


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.code_stats", description=__doc__)
    parser.add_argument("paths", nargs="*", default=list(DEFAULT_PATHS), help="files or folders")
    parser.add_argument("--top", type=int, default=15, help="how many of each to list (15)")
    args = parser.parse_args(argv)
    files = python_files(args.paths)
    modules: list[tuple[int, str]] = []
    functions: list[Function] = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        modules.append((len(text.splitlines()), _relative(path)))
        functions += _functions(ast.parse(text, filename=str(path)), _relative(path))
    total = sum(n for n, _ in modules)
    print(f"{len(files)} modules, {total:,} lines, {len(functions)} functions in {' '.join(args.paths)}")
    print(f"\n{args.top} largest modules (lines)")
    for lines, name in sorted(modules, reverse=True)[: args.top]:
        print(f"  {lines:>6}  {name}")
    print(f"\n{args.top} longest functions (lines)")
    for f in sorted(functions, key=lambda f: (-f.lines, f.path, f.line))[: args.top]:
        print(f"  {f.lines:>6}  {f.path}:{f.line}  {f.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
