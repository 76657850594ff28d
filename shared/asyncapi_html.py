"""An AsyncAPI document (shared/asyncapi.py) as one HTML page, rendered here: no JavaScript, no
stylesheet, font or image from anywhere else, so it reads the same on an office network without
internet. Every service serves it at /docs/asyncapi (shared.runtime).

The page shows what a partner or an operator needs: each operation (receive / send) with its
topic, parameters and message; each message's Kafka key, CloudEvents headers and payload; every
payload schema as a table of fields. The document itself is linked beside it (asyncapi.json,
asyncapi.yaml), relative to the page.
"""

import functools
import html
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from shared import asyncapi

SCHEMAS_REF: Final = asyncapi.SCHEMAS_REF
# Nothing but the page's own inline style may load: a browser enforces it even if a description
# ever carried markup (it cannot: every text is escaped).
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
# JSON-schema keywords shown as a field's constraints, in this order.
CONSTRAINTS: Final = (
    "const",
    "enum",
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "uniqueItems",
    "default",
    "examples",
)

STYLE: Final = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem 2rem;
  color: #1d1d1f; background: #fff; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 2px solid #d0d7de; padding-bottom: .2rem; margin-top: 2.5rem; }
h3 { margin-top: 2rem; } h4 { margin: 1.2rem 0 .4rem; }
code { font: 13px ui-monospace, monospace; background: #f3f4f6; padding: 0 .25rem; border-radius: 3px; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
.action { display: inline-block; font-size: 12px; font-weight: 700; padding: .1rem .45rem;
  border-radius: 3px; color: #fff; text-transform: uppercase; letter-spacing: .03em; }
.receive { background: #0969da; } .send { background: #1a7f37; }
.operation { border: 1px solid #d0d7de; border-radius: 6px; padding: .2rem 1rem 1rem; margin: 1rem 0; }
.required { color: #cf222e; font-weight: 600; } .muted { color: #57606a; }
nav ul { columns: 2; } nav li { margin: .1rem 0; }
"""

_CODE = re.compile(r"`([^`]+)`")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _anchor(kind: str, name: str) -> str:
    """An element id (any character but a space is allowed in HTML; we keep it readable)."""
    return f"{kind}-" + re.sub(r"[^A-Za-z0-9_.:-]", "_", name)


def _inline(text: str) -> str:
    """Escaped text, `code` spans as <code>."""
    return _CODE.sub(r"<code>\1</code>", _e(text))


def _prose(text: str | None) -> str:
    """Escaped text in paragraphs, `code` spans as <code>."""
    if not text:
        return ""
    return "".join(
        f"<p>{_inline(paragraph.strip())}</p>" for paragraph in text.split("\n\n") if paragraph.strip()
    )


GUIDE: Final = Path(__file__).parent / "data" / "subscribers.md"


def guide_text() -> str:
    """The subscribers' guide (shared/data/subscribers.md; `make docs` copies it to docs/)."""
    return GUIDE.read_text(encoding="utf-8")


def markdown(text: str) -> str:
    """The little Markdown the guide uses, escaped: `#`/`##` headings, paragraphs, `- ` lists
    (continued by indented lines) and `code` spans. Nothing else is interpreted."""
    out: list[str] = []
    block: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if block:
            out.append(f"<p>{_inline(' '.join(block))}</p>")
            block.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            flush()
        elif line.startswith("## "):
            flush()
            out.append(f"<h3>{_inline(stripped[3:])}</h3>")
        elif line.startswith("# "):
            flush()
            out.append(f"<h2>{_inline(stripped[2:])}</h2>")
        elif line.startswith("- "):
            if block:
                flush()
            items.append(stripped[2:])
        elif items and line.startswith("  "):
            items[-1] += " " + stripped
        else:
            if items:
                flush()
            block.append(stripped)
    flush()
    return "\n".join(out)


def _resolve(doc: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        target: Any = doc
        for part in str(node["$ref"]).removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _literal(value: Any) -> str:
    return f"<code>{_e(json.dumps(value, ensure_ascii=False))}</code>"


def _type(schema: Mapping[str, Any]) -> str:
    """A schema's type in words: links for references, `or` for anyOf, `array of` for items."""
    if "$ref" in schema:
        name = str(schema["$ref"]).removeprefix(SCHEMAS_REF)
        return f'<a href="#{_anchor("schema", name)}">{_e(name)}</a>'
    for combinator, word in (("anyOf", " or "), ("oneOf", " or "), ("allOf", " and ")):
        if combinator in schema:
            return word.join(_type(option) for option in schema[combinator])
    kind = schema.get("type")
    if kind == "array":
        return "array of " + _type(schema.get("items", {}))
    if isinstance(kind, list):
        return " or ".join(_e(k) for k in kind)
    if kind is None:
        return "const" if "const" in schema else "any"
    return _e(kind)


def _constraints(schema: Mapping[str, Any]) -> str:
    shown = []
    for keyword in CONSTRAINTS:
        if keyword not in schema:
            continue
        value = schema[keyword]
        if keyword == "enum":
            shown.append("one of " + ", ".join(_literal(v) for v in value))
        elif keyword == "examples":
            shown.append("e.g. " + ", ".join(_literal(v) for v in value))
        else:
            shown.append(f"{_e(keyword)} {_literal(value)}")
    items = schema.get("items")
    if isinstance(items, Mapping):
        inner = _constraints(items)
        if inner:
            shown.append(f"each: {inner}")
    return "; ".join(shown)


def _fields(schema: Mapping[str, Any]) -> str:
    """The table of an object schema's properties."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    if not properties:
        return f'<p class="muted">{_type(schema)} {_constraints(schema)}</p>'
    required = set(schema.get("required", ()))
    rows = "".join(
        "<tr>"
        f"<td><code>{_e(name)}</code></td>"
        f"<td>{_type(field)}</td>"
        f"<td>{'<span class=required>required</span>' if name in required else 'optional'}</td>"
        f"<td>{_constraints(field)}</td>"
        f"<td>{_inline(field.get('description', ''))}</td>"
        "</tr>"
        for name, field in properties.items()
    )
    return (
        "<table><thead><tr><th>Field</th><th>Type</th><th>Required</th><th>Constraints</th>"
        f"<th>Description</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _message(doc: Mapping[str, Any], message: Mapping[str, Any]) -> str:
    key = message.get("bindings", {}).get("kafka", {}).get("key", {})
    payload = message.get("payload", {})
    headers = message.get("headers", {})
    correlation = message.get("correlationId", {})
    parts = [
        f"<h4>Message <code>{_e(message.get('name', ''))}</code></h4>",
        _prose(message.get("summary")),
        "<table><tbody>",
        f"<tr><th>Content type</th><td><code>{_e(message.get('contentType', ''))}</code></td></tr>",
        f"<tr><th>Kafka key</th><td>{_type(key)} {_constraints(key)}"
        f"{_prose(key.get('description'))}</td></tr>",
        f"<tr><th>Correlation id</th><td><code>{_e(correlation.get('location', ''))}</code>"
        f"{_prose(correlation.get('description'))}</td></tr>",
        f"<tr><th>Payload</th><td>{_type(payload)}</td></tr>",
        "</tbody></table>",
        "<p><b>Headers</b></p>",
        _prose(headers.get("description")),
        _fields(headers),
        f"<p><b>Payload</b> ({_type(payload)})</p>",
        _fields(_resolve(doc, payload)),
    ]
    return "".join(parts)


def _operation(doc: Mapping[str, Any], operation_id: str, operation: Mapping[str, Any]) -> str:
    channel = _resolve(doc, operation["channel"])
    action = str(operation["action"])
    parts = [
        f'<article class="operation" id="{_anchor("operation", operation_id)}">',
        f'<h3><span class="action {_e(action)}">{_e(action)}</span> <code>{_e(channel["address"])}</code></h3>',
        f'<p class="muted">Operation <code>{_e(operation_id)}</code></p>',
        _prose(channel.get("description")),
    ]
    parameters: Mapping[str, Any] = channel.get("parameters", {})
    if parameters:
        rows = "".join(
            f"<tr><td><code>{{{_e(name)}}}</code></td><td>{_prose(p.get('description'))}</td>"
            f"<td>{', '.join(_literal(x) for x in p.get('examples', ()))}</td></tr>"
            for name, p in parameters.items()
        )
        parts.append(
            "<table><thead><tr><th>Parameter</th><th>Description</th><th>Examples</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    for reference in operation.get("messages", ()):
        parts.append(_message(doc, _resolve(doc, reference)))
    parts.append("</article>")
    return "".join(parts)


def _list(items: Iterable[tuple[str, str]]) -> str:
    return "<ul>" + "".join(f'<li><a href="#{href}">{label}</a></li>' for href, label in items) + "</ul>"


def page(doc: Mapping[str, Any]) -> str:
    """The document as a self-contained HTML page."""
    info = doc.get("info", {})
    operations: Mapping[str, Any] = doc.get("operations", {})
    schemas: Mapping[str, Any] = doc.get("components", {}).get("schemas", {})
    security: Mapping[str, Any] = doc.get("components", {}).get("securitySchemes", {})
    title = f"{info.get('title', '')} {info.get('version', '')}".strip()
    contents = _list(
        (
            _anchor("operation", op_id),
            f"{_e(op['action'])} <code>{_e(_resolve(doc, op['channel'])['address'])}</code>",
        )
        for op_id, op in operations.items()
    )
    servers = "".join(
        f"<tr><td><code>{_e(name)}</code></td><td><code>{_e(s.get('host', ''))}</code></td>"
        f"<td>{_e(s.get('protocol', ''))}</td>"
        f"<td>{', '.join(_e(str(r.get('$ref', '')).rsplit('/', 1)[-1]) for r in s.get('security', ()))}</td>"
        f"<td>{_prose(s.get('description'))}</td></tr>"
        for name, s in doc.get("servers", {}).items()
    )
    schemes = "".join(
        f"<tr><td><code>{_e(name)}</code></td><td>{_e(s.get('type', ''))}</td>"
        f"<td>{_prose(s.get('description'))}</td></tr>"
        for name, s in security.items()
    )
    schema_sections = "".join(
        f'<article id="{_anchor("schema", name)}"><h3>{_e(name)}</h3>'
        f"{_prose(schema.get('description'))}{_fields(schema)}</article>"
        for name, schema in schemas.items()
    )
    body = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)} · AsyncAPI</title><style>{STYLE}</style></head><body>",
        f"<header><h1>{_e(info.get('title', ''))}</h1>",
        f'<p class="muted">AsyncAPI {_e(doc.get("asyncapi", ""))} · version {_e(info.get("version", ""))}'
        ' · the document: <a href="asyncapi.json">asyncapi.json</a>,'
        ' <a href="asyncapi.yaml">asyncapi.yaml</a></p>',
        _prose(info.get("description")),
        "</header>",
        f'<nav><h2 id="contents">Operations</h2>{contents}'
        '<p><a href="#subscribers">Subscribing: keys, order, duplicates, retention, versions</a></p></nav>',
        '<section id="servers"><h2>Servers</h2>',
        "<table><thead><tr><th>Server</th><th>Host</th><th>Protocol</th><th>Security</th>"
        f"<th>Description</th></tr></thead><tbody>{servers}</tbody></table>",
        "<table><thead><tr><th>Security scheme</th><th>Type</th><th>Description</th></tr></thead>"
        f"<tbody>{schemes}</tbody></table></section>",
        '<section id="operations"><h2>Channels, operations and messages</h2>',
        "".join(_operation(doc, op_id, op) for op_id, op in operations.items()),
        "</section>",
        f'<section id="schemas"><h2>Schemas</h2>{schema_sections}</section>',
        f'<section id="subscribers">{markdown(guide_text())}</section>',
        "</body></html>",
    ]
    return "\n".join(body) + "\n"


@functools.cache
def html_text(service: str) -> str:
    """The page of the service's document (shared.asyncapi.document)."""
    return page(asyncapi.document(service))
