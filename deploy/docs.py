"""Writes each service's AsyncAPI 3.0.0 contract into docs/asyncapi/<service>.json and .yaml.

    python -m deploy.docs                   # what `make docs` runs
    python -m deploy.docs --out DIR         # somewhere else (tests/contracts regenerates into a tmp dir)
    python -m deploy.docs --check           # exit 1 when docs/asyncapi/ is not up to date

It also copies the subscribers' guide (shared/data/subscribers.md, rendered on each service's
/docs/asyncapi page) to docs/subscribers.md, for readers of the repository.

The documents are shared/asyncapi.py's, built from the contract registry (shared/contracts.py):
the same bytes each running service serves at /docs/asyncapi.json and /docs/asyncapi.yaml. This
module only writes and compares files.
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from shared import asyncapi, asyncapi_html

ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_OUT: Final = ROOT / "docs" / "asyncapi"
# The subscribers' guide, a copy of shared/data/subscribers.md (which the services render).
GUIDE_COPY: Final = ROOT / "docs" / "subscribers.md"


def render_all() -> dict[str, str]:
    """File name -> content of every service's documents."""
    return {name: text for service in asyncapi.services() for name, text in asyncapi.files(service).items()}


def _present(out: Path) -> list[Path]:
    return sorted(out.glob("*.json")) + sorted(out.glob("*.yaml"))


def write(out: Path) -> list[Path]:
    """Write every document into `out`, removing documents of services that no longer exist."""
    out.mkdir(parents=True, exist_ok=True)
    files = render_all()
    for stale_file in _present(out):
        if stale_file.name not in files:
            stale_file.unlink()
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale(out: Path) -> list[str]:
    """The documents in `out` that differ from what the sources generate (missing, changed, extra)."""
    files = render_all()
    present = {p.name for p in _present(out)}
    differing = [
        name
        for name, text in files.items()
        if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text
    ]
    return sorted(set(differing) | (present - set(files)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.docs", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write (docs/asyncapi/)")
    parser.add_argument("--check", action="store_true", help="only tell whether --out is up to date")
    args = parser.parse_args(argv)
    out: Path = args.out
    if args.check:
        differing = stale(out)
        if out == DEFAULT_OUT and (
            not GUIDE_COPY.is_file() or GUIDE_COPY.read_text(encoding="utf-8") != asyncapi_html.guide_text()
        ):
            differing.append(str(GUIDE_COPY.relative_to(ROOT)))
        if differing:
            print(f"deploy.docs: not up to date in {out}: {', '.join(differing)}; run `make docs`")
            return 1
        print(f"deploy.docs: {out} is up to date")
        return 0
    written = write(out)
    if out == DEFAULT_OUT:
        GUIDE_COPY.write_text(asyncapi_html.guide_text(), encoding="utf-8")
        written.append(GUIDE_COPY)
    for path in written:
        print(f"deploy.docs: wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
