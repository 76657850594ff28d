"""The contract registry (shared/contracts.py) is the one place an event is named: publishing,
consuming and the version check all derive from it, and no other code spells an event's name."""

import ast
import json
import re
import types
import typing
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from faststream.asgi import AsgiFastStream
from pydantic import BaseModel

from services.notifications.app import create_app as notifications_app
from services.registry.app import create_app as registry_app
from services.sponsorship.app import create_app as sponsorship_app
from shared import contracts, envelope
from shared.consumer import Incoming, MessageContext, PoisonMessage, Publisher
from shared.events import EventModel
from simulators.bpjs.app import create_app as bpjs_simulator_app
from testkit.samples import sample_registration

ROOT = Path(__file__).resolve().parents[2]
# An event's name with its version, as topics and CloudEvents types spell it.
EVENT_NAMES = re.compile("(?:" + "|".join(re.escape(c.name) for c in contracts.CONTRACTS) + r")\.v\d")


def service_apps() -> dict[str, AsgiFastStream]:
    """Each consuming service's app as it is wired (built, never started: no servers needed)."""
    return {
        "registry": registry_app(),
        "sponsorship": sponsorship_app(),
        "notifications": notifications_app(),
        "bpjs-simulator": bpjs_simulator_app(),
    }


# Fields whose schema has a pattern of its own.
FIELD_SAMPLES: dict[str, str] = {"worker_ref": "0123456789abcdef0123456789abcdef"}


def sample_value(annotation: Any) -> Any:
    """A valid JSON value for a field of an event model (enough for a round trip)."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return typing.get_args(annotation)[0]
    if origin in (typing.Union, types.UnionType):
        return sample_value(next(a for a in typing.get_args(annotation) if a is not type(None)))
    if origin is list:
        return [sample_value(typing.get_args(annotation)[0])]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {
            name: FIELD_SAMPLES.get(name) or sample_value(f.annotation)
            for name, f in annotation.model_fields.items()
        }
    return {
        str: "12345678901",
        int: 1,
        float: 1.0,
        bool: True,
        date: "2026-12-01",
        datetime: "2026-12-01T08:00:00Z",
    }[annotation]


# The partner-facing models carry the validators' limits and patterns: realistic bodies.
PARTNER_SAMPLES: dict[type[BaseModel], dict[str, Any]] = {
    contracts.REGISTRATION_SUBMITTED.model: sample_registration(1),
    contracts.COMMITMENT_SUBMITTED.model: {
        "commitment_id": "csr-2026-001",
        "company_id": "pt-sawit-makmur",
        "company_name": "PT Sawit Makmur",
        "kecamatan": ["Sekayu"],
        "slots": 10,
        "months": 12,
        "package": "JKK_JKM",
        "email": "csr@sawitmakmur.co.id",
    },
}


def sample(model: type[BaseModel]) -> Any:
    return model.model_validate(PARTNER_SAMPLES.get(model) or sample_value(model))


@pytest.mark.parametrize("contract", contracts.CONTRACTS, ids=lambda c: c.topic)
def test_a_contract_names_its_topic_type_and_version_once(contract: contracts.Contract[Any]) -> None:
    assert contract.topic == f"{contract.area}.{contract.name}.v{contract.version}"
    named = f"{contract.area}.{contract.event_name}" if contract.typed_by_area else contract.event_name
    assert contract.event_type == envelope.EVENT_TYPE_PREFIX + named
    assert contract.typed_by_area == (contract in contracts.FEED)  # the feed's names are the outcomes'
    assert contracts.by_topic(contract.topic) is contract
    assert contracts.by_event_type(contract.event_type) is contract
    assert contracts.of(sample(contract.model)) is contract


@pytest.mark.parametrize(
    "contract", [c for c in contracts.CONTRACTS if not c.partner_facing], ids=lambda c: c.topic
)
def test_publishing_derives_topic_key_and_type_from_the_event(contract: contracts.Contract[Any]) -> None:
    event = sample(contract.model)
    publisher = Publisher(contract.producer, topic_prefix="t1.")
    sent = publisher.publish(event, correlation_id="flow-1")
    (row,) = publisher.rows
    assert row.topic == "t1." + contract.topic
    assert row.event_type == sent.type == contract.event_type
    assert row.headers[envelope.H_TYPE] == contract.event_type
    assert row.headers[envelope.H_SOURCE] == contract.source
    assert row.headers[envelope.H_CORRELATION] == "flow-1"
    assert row.key == (None if contract.key(event) is None else contract.key(event).encode())
    assert contract.model.model_validate_json(row.body) == event


def test_a_service_cannot_publish_an_event_it_does_not_produce() -> None:
    """What `uow.publish(contracts.SPONSOR_MATCHED.topic, key, "worker-waitlisted.v1", ...)` allowed:
    the event decides the topic now, and only its producer may publish it."""
    event = sample(contracts.WORKER_WAITLISTED.model)
    with pytest.raises(TypeError, match="sponsorship"):
        Publisher("registry").publish(event)
    with pytest.raises(TypeError, match="partner does"):
        Publisher("registry").publish(contracts.REGISTRATION_SUBMITTED.model.model_construct())

    class Unregistered(EventModel):
        worker_id: str

    with pytest.raises(TypeError, match="not the model of any contract"):
        Publisher("registry").publish(Unregistered(worker_id="w"))


@pytest.mark.parametrize("contract", contracts.CONTRACTS, ids=lambda c: c.topic)
def test_consuming_parses_the_contracts_model(contract: contracts.Contract[Any]) -> None:
    from tests.unit.test_consumer import record

    event = sample(contract.model)
    good = Incoming.from_record(record(value=event.model_dump_json().encode(), topic=contract.topic))
    ctx = MessageContext(good, contract, store=None, publisher=Publisher("registry"))
    assert ctx.event == event
    bad = Incoming.from_record(record(value=json.dumps({"x": 1}).encode(), topic=contract.topic))
    if contract.model.model_fields and any(f.is_required() for f in contract.model.model_fields.values()):
        with pytest.raises(PoisonMessage) as caught:
            _ = MessageContext(bad, contract, store=None, publisher=Publisher("registry")).event
        assert caught.value.reason == "CONTRACT_VIOLATION"


def test_each_service_subscribes_to_exactly_the_contracts_it_consumes() -> None:
    for service, app in service_apps().items():
        wanted = contracts.consumed_by(service)
        subscribed: set[str] = set()
        for subscriber in app.broker.subscribers:
            subscribed |= {t.name for t in subscriber.topics}
            if subscriber._pattern:
                (per_partner,) = (c for c in wanted if c.per_partner)
                assert re.fullmatch(subscriber._pattern, per_partner.topic + ".desa-online")
                subscribed.add(per_partner.topic)
        assert subscribed == {c.topic for c in wanted}, service


def test_a_service_cannot_subscribe_to_a_contract_it_does_not_consume() -> None:
    from services.registry.settings import RegistrySettings
    from shared.runtime import ServiceRuntime, conn_store

    runtime = ServiceRuntime("registry", RegistrySettings(), ROOT, store=conn_store)

    async def handler(ctx: MessageContext[Any, Any]) -> None: ...

    with pytest.raises(ValueError, match="not a consumer"):
        runtime.subscribe(contracts.WORKER_REGISTERED, handler)


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value if isinstance(node.value, str) else node.value.decode(errors="replace"))
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str | bytes)
        and id(node) not in docstrings
    ]


def test_the_event_models_do_not_name_their_topics() -> None:
    """A model's docstring is its AsyncAPI summary: the contract, not the model, names the topic
    (a docstring would not follow a new version)."""
    for contract in contracts.CONTRACTS:
        doc = contract.model.__doc__ or ""
        assert not EVENT_NAMES.search(doc), f"{contract.model.__name__}: {doc[:80]!r}"


def test_no_code_but_the_registry_spells_an_event_name() -> None:
    """Topic names and CloudEvents types are derived from shared/contracts.py everywhere else
    (docstrings, comments and the generated docs/ may mention them for readers). The tests are
    left out on purpose: tests/contracts pins the wire names literally, so that a change to the
    registry that would break partners and subscribers fails there."""
    found = []
    for folder in ("services", "shared", "simulators", "muba", "deploy"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "shared" / "contracts.py":
                continue
            for line, text in _code_strings(path):
                if EVENT_NAMES.search(text):
                    found.append(f"{path.relative_to(ROOT)}:{line}: {text[:80]!r}")
    assert not found, "\n".join(found)


def test_time_fields_are_timezone_aware_on_the_wire() -> None:
    event = sample(contracts.WORKER_REGISTERED.model)
    assert event.registered_at.tzinfo is not None and event.registered_at.utcoffset() == UTC.utcoffset(None)
