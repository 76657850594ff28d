"""docs/asyncapi/: the AsyncAPI contracts partners get. They are up to date with the contract
registry (shared/asyncapi.py builds them from shared/contracts.py), each operation says what its
contract says, the official AsyncAPI parser (@asyncapi/parser, run with node) accepts them, every
partner-facing topic is there with the JSON schema of its payload, and the HTML page each service
serves of them (shared/asyncapi_html.py) shows all of it and needs nothing from outside.

Needs node and tests/contracts/node_modules (`make install` installs both); without them the
validation FAILS, it never skips.
"""

import ast
import difflib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from services.notifications.app import create_app as notifications
from services.notifications.settings import NotificationsSettings
from services.registry.app import create_app as registry
from services.registry.settings import RegistrySettings
from services.sponsorship.app import create_app as sponsorship
from services.sponsorship.settings import SponsorshipSettings
from shared import asyncapi, asyncapi_html, contracts, envelope
from shared.events.bpjs import EnrollmentConfirmed, EnrollmentRejected
from shared.events.registry import RegistrationSubmitted
from shared.events.sponsorship import CommitmentSubmitted
from simulators.bpjs.app import create_app as simulator
from simulators.bpjs.settings import SimulatorSettings
from tests.contracts import page_check

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "asyncapi"
HERE = Path(__file__).resolve().parent
VALIDATOR = HERE / "validate_asyncapi.mjs"
PARSER = HERE / "node_modules" / "@asyncapi" / "parser"
HOW_TO = (
    "Run `make install` (deploy/local/bootstrap.sh installs node and npm, then runs `npm ci` in "
    "tests/contracts); on a machine that is already installed: `npm ci --prefix tests/contracts`."
)

PARTNER_FACING: dict[str, type[BaseModel]] = {
    contracts.REGISTRATION_SUBMITTED.topic + ".{partner}": RegistrationSubmitted,
    contracts.COMMITMENT_SUBMITTED.topic: CommitmentSubmitted,
    contracts.ENROLLMENT_CONFIRMED.topic: EnrollmentConfirmed,
    contracts.ENROLLMENT_REJECTED.topic: EnrollmentRejected,
}
CLOUDEVENTS_HEADERS = (
    envelope.H_ID,
    envelope.H_TYPE,
    envelope.H_SOURCE,
    envelope.H_SPECVERSION,
    envelope.H_TIME,
    envelope.H_CORRELATION,
    envelope.H_CONTENT_TYPE,
)


def _committed() -> dict[str, str]:
    return {
        p.name: p.read_text(encoding="utf-8")
        for p in sorted(DOCS.glob("*.json")) + sorted(DOCS.glob("*.yaml"))
    }


def _documents() -> dict[str, dict[str, Any]]:
    """Service name -> its committed JSON document."""
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DOCS.glob("*.json"))}


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow local `$ref`s (`#/a/b/c`) until a node that is not a reference."""
    while "$ref" in node:
        target: Any = doc
        for part in str(node["$ref"]).removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _messages(doc: dict[str, Any], topic: str) -> list[tuple[str, dict[str, Any]]]:
    """(operation action, message) of every operation on `topic` in `doc`."""
    found = []
    for operation in doc["operations"].values():
        channel = _resolve(doc, operation["channel"])
        if channel["address"] == topic:
            found += [(operation["action"], _resolve(doc, m)) for m in operation["messages"]]
    return found


# Where each service's code is (what it builds is what it may publish).
CODE = {"bpjs-simulator": ROOT / "simulators" / "bpjs"}


def _code(service: str) -> Path:
    return CODE.get(service, ROOT / "services" / service)


def test_every_service_has_a_document() -> None:
    """Every service the contracts name (each services/*/app.py on Kafka among them, and the
    simulator) has its JSON and YAML document, and nothing else is in docs/asyncapi/. The
    dashboard reads the others' HTTP APIs and has no topic."""
    services = asyncapi.services()
    apps = {
        p.parent.name
        for p in (ROOT / "services").glob("*/app.py")
        if "ServiceRuntime" in p.read_text(encoding="utf-8")
    }
    assert {p.parent.name for p in (ROOT / "services").glob("*/app.py")} - apps == {"dashboard"}
    assert apps <= set(services), f"services without a contract: {sorted(apps - set(services))}"
    assert "bpjs-simulator" in services
    assert all(_code(s).is_dir() for s in services), services
    assert sorted(_committed()) == sorted(f"{s}.{ext}" for s in services for ext in ("json", "yaml")), (
        "docs/asyncapi/ lacks documents: run `make docs` and commit docs/asyncapi/"
    )


def test_documents_are_up_to_date(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deploy.docs", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"`python -m deploy.docs` failed:\n{result.stdout}{result.stderr}"
    generated = {p.name: p.read_text(encoding="utf-8") for p in sorted(tmp_path.iterdir())}
    committed = _committed()
    stale = sorted(
        name for name in generated.keys() | committed.keys() if generated.get(name) != committed.get(name)
    )
    diff = "".join(
        difflib.unified_diff(
            committed.get(stale[0], "").splitlines(keepends=True),
            generated.get(stale[0], "").splitlines(keepends=True),
            f"docs/asyncapi/{stale[0]} (committed)",
            f"{stale[0]} (generated)",
            n=2,
        )
        if stale
        else []
    )
    assert not stale, (
        f"docs/asyncapi/ is not up to date ({', '.join(stale)}): run `make docs` and commit "
        f"docs/asyncapi/.\n{diff[:4000]}"
    )


def test_yaml_and_json_say_the_same() -> None:
    for name, doc in _documents().items():
        assert yaml.safe_load((DOCS / f"{name}.yaml").read_text(encoding="utf-8")) == doc, name


def test_documents_are_valid_for_the_official_asyncapi_parser() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            f"node is not installed, so the AsyncAPI documents cannot be validated. {HOW_TO}", pytrace=False
        )
    if not (PARSER / "package.json").is_file():
        pytest.fail(f"tests/contracts/node_modules lacks @asyncapi/parser. {HOW_TO}", pytrace=False)
    pinned = json.loads((HERE / "package.json").read_text())["dependencies"]["@asyncapi/parser"]
    installed = json.loads((PARSER / "package.json").read_text())["version"]
    if installed != pinned:
        pytest.fail(
            f"tests/contracts/node_modules has @asyncapi/parser {installed}, package.json pins {pinned}. {HOW_TO}",
            pytrace=False,
        )
    files = sorted(str(DOCS / name) for name in _committed())
    assert files, "docs/asyncapi/ is empty: run `make docs`"
    result = subprocess.run(
        [node, str(VALIDATOR), *files], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, (
        f"@asyncapi/parser rejects the documents (exit {result.returncode}):\n{result.stdout}{result.stderr}"
    )


@pytest.mark.parametrize("topic", sorted(PARTNER_FACING))
def test_partner_facing_topic_has_its_payload_schema(topic: str) -> None:
    model = PARTNER_FACING[topic]
    required = sorted(name for name, field in model.model_fields.items() if field.is_required())
    found = [
        (service, action, message)
        for service, doc in _documents().items()
        for action, message in _messages(doc, topic)
        if action == "receive"
    ]
    assert found, f"no document has a `receive` operation on {topic}"
    for service, _, message in found:
        payload = _resolve(_documents()[service], message["payload"])
        where = f"{service}: payload of {topic}"
        assert payload.get("type") == "object", f"{where} is not an object schema: {payload}"
        assert sorted(payload.get("required", [])) == required, f"{where} does not name its required fields"
        assert set(required) <= set(payload.get("properties", {})), f"{where} does not describe every field"


@pytest.mark.parametrize("service", asyncapi.services())
def test_every_message_has_cloudevents_headers_and_a_kafka_key(service: str) -> None:
    doc = _documents()[service]
    messages = doc["components"]["messages"]
    assert messages, f"{service}: no messages"
    for message_id, message in messages.items():
        headers = message.get("headers", {}).get("properties", {})
        missing = [h for h in CLOUDEVENTS_HEADERS if h not in headers]
        assert not missing, f"{service}: {message_id} lacks the headers {missing}"
        assert message["correlationId"]["location"] == f"$message.header#/{envelope.H_CORRELATION}"
        assert "key" in message.get("bindings", {}).get("kafka", {}), (
            f"{service}: {message_id} has no Kafka key"
        )
        payload = _resolve(doc, message["payload"])
        assert payload.get("properties"), f"{service}: {message_id} has an empty payload schema"


@pytest.mark.parametrize("service", asyncapi.services())
def test_document_names_every_topic_the_service_publishes(service: str) -> None:
    """The document sends what the contracts say the service produces (a service's publisher
    refuses any other event: shared.consumer.Publisher), and the service's code builds each of
    those events somewhere: nothing is documented that is never sent."""
    constructed = {
        node.func.id
        for p in sorted(_code(service).rglob("*.py"))
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    produced = contracts.published_by(service)
    never_built = [c.model.__name__ for c in produced if c.model.__name__ not in constructed]
    assert not never_built, f"{service}: contracts say it publishes {never_built}, its code never builds one"
    doc = _documents()[service]
    sent = {
        _resolve(doc, operation["channel"])["address"]
        for operation in doc["operations"].values()
        if operation["action"] == "send"
    }
    assert sent == {c.topic for c in produced}, f"{service}: the document says {sorted(sent)}"


@pytest.mark.parametrize("service", asyncapi.services())
def test_each_operation_says_what_its_contract_says(service: str) -> None:
    """Receive what the contracts say the service consumes, send what it produces; each message's
    topic, payload model, event type (version included) and source are its contract's."""
    doc = _documents()[service]
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for operation in doc["operations"].values():
        channel = _resolve(doc, operation["channel"])
        ((message_ref,),) = [operation["messages"]]
        found[(operation["action"], channel["address"])] = _resolve(doc, message_ref)
    expected = [("receive", c) for c in contracts.consumed_by(service)] + [
        ("send", c) for c in contracts.published_by(service)
    ]
    address = {c.topic: c.topic + (".{partner}" if c.per_partner else "") for _, c in expected}
    assert sorted(found) == sorted((action, address[c.topic]) for action, c in expected)
    for action, contract in expected:
        message = found[(action, address[contract.topic])]
        where = f"{service} {action} {contract.topic}"
        assert message["payload"] == {"$ref": f"#/components/schemas/{contract.model.__name__}"}, where
        schema = contract.model.model_json_schema(ref_template="#/components/schemas/{model}")
        nested = schema.pop("$defs", {})
        assert _resolve(doc, message["payload"]) == schema, where
        assert all(doc["components"]["schemas"].get(name) == s for name, s in nested.items()), where
        ce_type = message["headers"]["properties"][envelope.H_TYPE]
        assert contract.event_type in (ce_type.get("const"), *ce_type.get("examples", [])), where
        assert contract.event_type.endswith(f".v{contract.version}") and contract.topic.endswith(
            f".v{contract.version}"
        ), where
        if not contract.partner_facing and contract.producer != "bpjs-simulator":
            assert message["headers"]["properties"][envelope.H_SOURCE]["const"] == contract.source, where


def test_documents_need_no_faststream() -> None:
    """The documents come from the contract registry, not from building the services' apps."""
    tree = ast.parse((ROOT / "shared" / "asyncapi.py").read_text(encoding="utf-8"))
    imported = {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in imported if m.startswith(("faststream", "services", "simulators"))}


@pytest.mark.parametrize("service", asyncapi.services())
def test_the_page_shows_the_whole_document_and_needs_nothing_from_outside(service: str) -> None:
    """The HTML page of /docs/asyncapi: every channel, operation, message, schema and field of
    the published document, and no URL beyond the service (a browser without internet renders it)."""
    doc = _documents()[service]
    assert page_check.problems(asyncapi_html.page(doc), doc) == []


def test_the_page_check_finds_what_it_must() -> None:
    """The check itself: a CDN script, a stylesheet URL, a protocol-relative image, a missing name."""
    doc = _documents()["registry"]
    good = asyncapi_html.page(doc)
    assert page_check.problems(good, doc) == []
    for bad in (
        '<script src="https://unpkg.com/@asyncapi/react-component"></script>',
        "<style>body { background: url('https://cdn.example/x.png') }</style>",
        '<img src="//cdn.example/logo.png">',
        '<div style="background:url(http://x.example/a.png)"></div>',
    ):
        assert page_check.problems(good.replace("</body>", bad + "</body>"), doc), bad
    address = contracts.WORKER_REGISTERED.topic
    assert page_check.problems(good.replace(address, "x"), doc)


TOKEN = "contracts-test-office-" + "ab" * 8


def _apps() -> dict[str, Any]:
    """Each service's app as it is wired (built, never started: no servers), with a known token."""
    common: dict[str, Any] = {"operator_token": TOKEN, "http_host": "127.0.0.1"}
    return {
        "registry": registry(RegistrySettings(**common)),
        "sponsorship": sponsorship(SponsorshipSettings(**common)),
        "notifications": notifications(NotificationsSettings(**common)),
        "bpjs-simulator": simulator(SimulatorSettings(**common)),
    }


async def _get(app: Any, path: str) -> tuple[int, bytes]:
    """One GET through the app's ASGI interface, in process."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {TOKEN}".encode())],
        "client": ("127.0.0.1", 1),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def test_every_service_serves_its_published_document() -> None:
    """What each service's /docs routes answer (the simulator's too) is docs/asyncapi/<service>.*,
    byte for byte, and the page of that document."""
    apps = _apps()
    assert sorted(apps) == sorted(asyncapi.services())
    for service, app in apps.items():
        for suffix in ("json", "yaml"):
            status, body = await _get(app, f"/docs/asyncapi.{suffix}")
            assert status == 200, (service, suffix)
            assert body == (DOCS / f"{service}.{suffix}").read_bytes(), f"{service}: /docs/asyncapi.{suffix}"
        status, body = await _get(app, "/docs/asyncapi")
        assert status == 200
        assert page_check.problems(body.decode(), _documents()[service]) == [], service
