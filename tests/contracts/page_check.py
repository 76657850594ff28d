"""What an AsyncAPI page must be to render without internet and to show its whole document:
shared by tests/contracts (every service's page, no servers) and tests/services/test_live_docs.py
(the page a running service serves)."""

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

# Attributes through which a page makes the browser fetch or follow something.
URL_ATTRIBUTES = frozenset(
    {
        "src",
        "href",
        "srcset",
        "action",
        "formaction",
        "poster",
        "data",
        "background",
        "manifest",
        "xlink:href",
    }
)
_CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]*)|@import\s+['\"]([^'\"]+)", re.IGNORECASE)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self.ids: set[str] = set()
        self.tags: set[str] = set()
        self.text: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self._in_style = tag == "style"
        for name, value in attrs:
            if value is None:
                continue
            if name == "id":
                self.ids.add(value)
            if name in URL_ATTRIBUTES:
                self.urls += [part.split()[0] for part in value.split(",")] if name == "srcset" else [value]
            if name == "style":
                self.urls += _css_urls(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.urls += _css_urls(data)
        else:
            self.text.append(data)


def _css_urls(css: str) -> list[str]:
    return [a or b for a, b in _CSS_URL.findall(css)]


def parse(page: str) -> _Page:
    parsed = _Page()
    parsed.feed(page)
    parsed.close()
    return parsed


def external(urls: list[str]) -> list[str]:
    """The URLs that leave the page's own origin (a scheme, or `//host`)."""
    return [u for u in urls if urlsplit(u.strip()).scheme or u.strip().startswith(("//", "\\\\"))]


def problems(page: str, doc: dict[str, Any]) -> list[str]:
    """Everything wrong with `page` as the rendering of `doc` (empty when it is right)."""
    parsed = parse(page)
    found: list[str] = []
    if outside := external(parsed.urls):
        found.append(f"loads or links outside the service: {outside}")
    if "script" in parsed.tags or "iframe" in parsed.tags or "link" in parsed.tags:
        found.append(f"has script/iframe/link elements: {sorted(parsed.tags & {'script', 'iframe', 'link'})}")
    dangling = [u for u in parsed.urls if u.startswith("#") and u[1:] not in parsed.ids]
    if dangling:
        found.append(f"links to anchors the page lacks: {dangling[:5]}")
    text = " ".join(" ".join(parsed.text).split())
    names = [
        *(channel["address"] for channel in doc["channels"].values()),
        *doc["operations"],
        *(message["name"] for message in doc["components"]["messages"].values()),
        *doc["components"]["schemas"],
    ]
    for schema in doc["components"]["schemas"].values():
        names += list(schema.get("properties", {}))
    missing = sorted({n for n in names if n not in text})
    if missing:
        found.append(f"does not name {missing}")
    return found
