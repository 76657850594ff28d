"""What the services ship stays production code: the packages pyproject.toml installs (and the image
runs) never import the test helpers (testkit/), the tests or the tooling in deploy/, and hold no
test helpers of their own."""

import ast
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

from setuptools import find_namespace_packages

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("services", "shared", "simulators", "muba")
# Never imported by production code: test helpers, tests, the local tooling, test-only libraries.
NOT_PRODUCTION = ("testkit", "tests", "deploy", "pytest", "testcontainers")


def shipped_packages() -> set[str]:
    """The packages `pip install .` installs, as setuptools finds them from pyproject.toml."""
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    return set(find_namespace_packages(where=str(ROOT), include=find["include"]))


def modules(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package).rglob("*.py"))


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every absolute import in a file, at the top or inside a function."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def test_only_the_production_packages_are_installed() -> None:
    roots = {name.split(".")[0] for name in shipped_packages()}
    assert roots == set(PRODUCTION)


def test_no_installed_package_holds_test_helpers() -> None:
    helpers = [
        f"{package}.{path.stem}"
        for package in sorted(shipped_packages())
        for path in (ROOT / package.replace(".", "/")).glob("*.py")
        if path.stem in ("testing", "conftest", "fixtures") or path.stem.startswith("test_")
    ]
    assert helpers == [], "test helpers belong in testkit/ (or tests/support.py), not in what ships"


def test_production_code_never_imports_test_code() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for package in PRODUCTION
        for path in modules(package)
        for line, module in imported(path)
        if module.split(".")[0] in NOT_PRODUCTION
    ]
    assert found == []


def test_importing_every_production_module_loads_no_test_code() -> None:
    """The same at run time (an import built from a string would escape the syntax check)."""
    script = (
        "import importlib, pkgutil, sys\n"
        f"for package in {PRODUCTION!r}:\n"
        "    root = importlib.import_module(package)\n"
        "    for info in pkgutil.walk_packages(root.__path__, package + '.'):\n"
        "        if not info.name.endswith('.__main__'):\n"
        "            importlib.import_module(info.name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {NOT_PRODUCTION!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- settings are read when a program runs, never at import -------------------------------------

WATCH_THE_ENVIRONMENT = '''
import importlib, os, pkgutil, sys
from collections.abc import MutableMapping

ROOT = os.getcwd() + os.sep
LIBRARIES = (sys.prefix + os.sep, sys.base_prefix + os.sep)  # a virtualenv may sit inside ROOT


def ours(frame):
    name = frame.f_code.co_filename
    return name.startswith(ROOT) and not name.startswith(LIBRARIES)


class Watched(MutableMapping):
    """os.environ noting where the repository's code reads it: directly, or by copying the whole
    environment (a settings class built at import). Libraries' own start-up does not count."""

    def __init__(self, data):
        self.data, self.readers = data, set()

    def note(self, key):
        frame = sys._getframe(2)
        while frame.f_code.co_filename.startswith("<frozen") and frame.f_back is not None:
            frame = frame.f_back  # os.getenv, Mapping.get
        if key != "(all)" and not ours(frame):
            return  # a library looking for its own variables
        reader = None  # the statement of the module being imported that led to the read
        while frame is not None and not frame.f_code.co_filename.startswith("<frozen importlib"):
            if ours(frame):
                reader = f"{frame.f_code.co_filename[len(ROOT):]}:{frame.f_lineno}"
            frame = frame.f_back
        if reader is not None:
            self.readers.add(f"{reader} reads {key}")

    def __getitem__(self, key):
        self.note(key)
        return self.data[key]

    def __contains__(self, key):
        self.note(key)
        return key in self.data

    def __iter__(self):
        self.note("(all)")
        return iter(self.data)

    def __setitem__(self, key, value):
        self.data[key] = value

    def __delitem__(self, key):
        del self.data[key]

    def __len__(self):
        return len(self.data)


os.environ = watched = Watched(dict(os.environ))
for package in sys.argv[1:]:
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        if not info.name.endswith(".__main__"):
            importlib.import_module(info.name)
print("\\n".join(sorted(watched.readers)))
'''


def test_the_tools_read_no_setting_at_import() -> None:
    """deploy/ (demo, chaos, stack...), the CLI and testkit read their settings when they run:
    importing one (a test does) neither fails on a bad value nor fixes one for the process."""
    result = subprocess.run(
        [sys.executable, "-c", WATCH_THE_ENVIRONMENT, "deploy", "muba", "testkit"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
