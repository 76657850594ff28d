"""Writes each service's AsyncAPI 3.0.0 contract into docs/asyncapi/<service>.json and .yaml.

    python -m deploy.docs                   # what `make docs` runs
    python -m deploy.docs --out DIR         # somewhere else (tests/contracts regenerates into a tmp dir)
    python -m deploy.docs --check           # exit 1 when docs/asyncapi/ is not up to date

FastStream generates each document from the app that `create_app()` builds (no broker connection
is made). The runtime hands its handlers raw Kafka records and publishes through the outbox, so
FastStream alone sees neither payload models nor publishers; this module completes its document:

- every consumed channel's message gets the JSON schema of its pydantic model (shared/events);
- every topic the service publishes (through its outbox) gets a channel and a `send` operation,
  named `<service>:send:<topic>`, with its model;
- every message describes its CloudEvents 1.0 headers (binary mode) and its Kafka key, and its
  correlation id points at the `ce_correlationid` header.

The output is deterministic: the same sources always give byte-identical files, whatever the
environment (settings are given explicitly, never read from it).
"""

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from faststream.asgi import AsgiFastStream
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from services.notifications.app import create_app as notifications_app
from services.notifications.settings import NotificationsSettings
from services.registry.app import create_app as registry_app
from services.registry.settings import RegistrySettings
from services.sponsorship.app import create_app as sponsorship_app
from services.sponsorship.settings import SponsorshipSettings
from shared import contracts, envelope, topics
from shared.events.bpjs import EnrollmentConfirmed, EnrollmentRejected, EnrollmentRequested
from shared.events.notifications import NotificationSent
from shared.events.registry import RegistrationRejected, RegistrationSubmitted, WorkerRegistered
from shared.events.sponsorship import (
    CommitmentAccepted,
    CommitmentRejected,
    CommitmentSubmitted,
    EnrollmentCompleted,
    EnrollmentFailed,
    SponsorMatched,
    WorkerWaitlisted,
)
from shared.settings import ServiceSettings
from simulators.bpjs.domain import SOURCE as BPJS_SOURCE

ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_OUT: Final = ROOT / "docs" / "asyncapi"
SCHEMAS_REF: Final = "#/components/schemas/"
KAFKA_BINDING_VERSION: Final = "0.4.0"  # the Kafka bindings version FastStream writes for channels

# Who puts events on a topic: one of the services, BPJS Ketenagakerjaan, or partner systems.
Producer = Literal["registry", "sponsorship", "notifications", "bpjs", "partner"]

WORKER_KEY: Final = "The worker's `worker_id` (UUID): all of a worker's events share a partition, in order."


@dataclass(frozen=True, slots=True)
class TopicContract:
    """What travels on one topic: the body's model, who produces it, and what its Kafka key is."""

    model: type[BaseModel]
    producer: Producer
    key: str
    key_format: str | None = None


CONTRACTS: Final[Mapping[str, TopicContract]] = {
    contracts.REGISTRATION_SUBMITTED.topic: TopicContract(
        RegistrationSubmitted,
        "partner",
        "Optional and not read: the registry recognises a repeated submission by `source` + `submission_id`.",
    ),
    contracts.COMMITMENT_SUBMITTED.topic: TopicContract(
        CommitmentSubmitted,
        "partner",
        "Optional and not read: sponsorship recognises a repeated commitment by `commitment_id`.",
    ),
    contracts.WORKER_REGISTERED.topic: TopicContract(WorkerRegistered, "registry", WORKER_KEY, "uuid"),
    contracts.REGISTRATION_REJECTED.topic: TopicContract(
        RegistrationRejected, "registry", "`<source>/<submission_id>` of the rejected submission."
    ),
    contracts.COMMITMENT_ACCEPTED.topic: TopicContract(
        CommitmentAccepted, "sponsorship", "The `commitment_id`."
    ),
    contracts.COMMITMENT_REJECTED.topic: TopicContract(
        CommitmentRejected, "sponsorship", "The `commitment_id` (none when the submission had none)."
    ),
    contracts.SPONSOR_MATCHED.topic: TopicContract(SponsorMatched, "sponsorship", WORKER_KEY, "uuid"),
    contracts.WORKER_WAITLISTED.topic: TopicContract(WorkerWaitlisted, "sponsorship", WORKER_KEY, "uuid"),
    contracts.ENROLLMENT_REQUESTED.topic: TopicContract(
        EnrollmentRequested, "sponsorship", WORKER_KEY, "uuid"
    ),
    contracts.ENROLLMENT_COMPLETED.topic: TopicContract(
        EnrollmentCompleted, "sponsorship", WORKER_KEY, "uuid"
    ),
    contracts.ENROLLMENT_FAILED.topic: TopicContract(EnrollmentFailed, "sponsorship", WORKER_KEY, "uuid"),
    contracts.ENROLLMENT_CONFIRMED.topic: TopicContract(EnrollmentConfirmed, "bpjs", WORKER_KEY, "uuid"),
    contracts.ENROLLMENT_REJECTED.topic: TopicContract(EnrollmentRejected, "bpjs", WORKER_KEY, "uuid"),
    contracts.NOTIFICATION_SENT.topic: TopicContract(
        NotificationSent,
        "notifications",
        "The `worker_id`, or `<source>/<submission_id>` for a rejected registration.",
    ),
}


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    create_app: Callable[..., AsgiFastStream]
    settings: type[ServiceSettings]
    summary: str

    @property
    def publishes(self) -> tuple[str, ...]:
        return tuple(topic for topic, c in CONTRACTS.items() if c.producer == self.name)


SERVICES: Final[tuple[Service, ...]] = (
    Service(
        "registry",
        registry_app,
        RegistrySettings,
        "Registers non-formal workers submitted by partner systems, or names every reason why not.",
    ),
    Service(
        "sponsorship",
        sponsorship_app,
        SponsorshipSettings,
        "Takes company commitments, matches registered workers to them and enrolls them with "
        "BPJS Ketenagakerjaan.",
    ),
    Service(
        "notifications",
        notifications_app,
        NotificationsSettings,
        "Tells workers, companies and the office about outcomes, each exactly once.",
    ),
)


def _settings(service: Service) -> ServiceSettings:
    """The service's settings with every value that reaches the document fixed, not read from the
    environment: the broker is the local default of `make infra-up`, topics carry no prefix."""
    default_servers = ServiceSettings.model_fields["kafka_bootstrap_servers"].default
    return service.settings(kafka_bootstrap_servers=default_servers, topic_prefix="", instance_id=None)


def _payload_schemas(models: Sequence[type[BaseModel]]) -> tuple[dict[str, str], dict[str, Any]]:
    """The models' JSON schemas for components/schemas (nested models included, sorted by name),
    and each model's `$ref` by model name."""
    refs, defs = models_json_schema(
        [(model, "validation") for model in models], ref_template=SCHEMAS_REF + "{model}"
    )
    by_name = {model.__name__: refs[(model, "validation")]["$ref"] for model in models}
    schemas = defs.get("$defs", {})
    return by_name, {name: schemas[name] for name in sorted(schemas)}


def _headers(topic: str, contract: TopicContract) -> dict[str, Any]:
    """The CloudEvents 1.0 binary-mode Kafka headers (shared/envelope.py) of a message on `topic`:
    required on every event the programme defines, optional on the partner-facing topics."""
    partner = contract.producer == "partner"
    ce_type: dict[str, Any] = {"type": "string", "description": "CloudEvents `type`."}
    source: dict[str, Any] = {
        "type": "string",
        "description": "Who produced the event (CloudEvents `source`).",
    }
    event_type = envelope.event_type(topic.split(".", 1)[1])
    if partner:
        ce_type["description"] += " When it ends in `.vN`, N must be the topic's version."
        ce_type["examples"] = [event_type]
        source["description"] += " The partner system's own URI-reference."
    else:
        ce_type["const"] = event_type
        if contract.producer == "bpjs":
            source["examples"] = [BPJS_SOURCE]
        else:
            source["const"] = f"/muba/{contract.producer}"
    event_id = "Unique id of the event (CloudEvents `id`, a UUID); consumers process each id once."
    if partner:
        event_id += " Without it, the event's id is derived from its topic, partition and offset."
    properties: dict[str, Any] = {
        envelope.H_ID: {"type": "string", "description": event_id},
        envelope.H_TYPE: ce_type,
        envelope.H_SOURCE: source,
        envelope.H_SPECVERSION: {"type": "string", "const": envelope.SPEC_VERSION},
        envelope.H_TIME: {
            "type": "string",
            "format": "date-time",
            "description": "When the event happened (CloudEvents `time`, RFC 3339, UTC).",
        },
        envelope.H_CORRELATION: {
            "type": "string",
            "description": "The `ce_id` of the event that started the flow; carried over to every "
            "event it causes (defaults to this event's `ce_id`).",
        },
        envelope.H_SUBJECT: {
            "type": "string",
            "description": "CloudEvents `subject`: the Kafka key, when the event has one.",
        },
        envelope.H_CONTENT_TYPE: {"type": "string", "const": envelope.CONTENT_TYPE},
    }
    if partner:
        return {
            "description": "CloudEvents 1.0 headers (binary content mode), optional on this "
            "partner-facing topic: plain JSON is accepted. When sent, `ce_id`, `ce_type` and "
            "`ce_source` must all be present.",
            "type": "object",
            "properties": properties,
        }
    return {
        "description": "CloudEvents 1.0 headers (binary content mode); the body is the JSON payload.",
        "type": "object",
        "properties": properties,
        "required": [h for h in properties if h != envelope.H_SUBJECT],
    }


def _message(topic: str, contract: TopicContract, payload_ref: str) -> dict[str, Any]:
    doc = (contract.model.__doc__ or "").strip()
    key: dict[str, Any] = {"description": contract.key, "type": "string"}
    if contract.key_format:
        key["format"] = contract.key_format
    return {
        "name": contract.model.__name__,
        "title": contract.model.__name__,
        "summary": doc.splitlines()[0] if doc else topic,
        "contentType": envelope.CONTENT_TYPE,
        "correlationId": {
            "description": "The flow's correlation id (CloudEvents extension `correlationid`).",
            "location": f"$message.header#/{envelope.H_CORRELATION}",
        },
        "headers": _headers(topic, contract),
        "payload": {"$ref": payload_ref},
        "bindings": {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING_VERSION}},
    }


def _channel_message(channel: Mapping[str, Any]) -> str:
    """The components message id of a FastStream channel's only message."""
    ((_, ref),) = channel["messages"].items()
    return str(ref["$ref"]).removeprefix("#/components/messages/")


def _as_partner_channel(channel: dict[str, Any]) -> None:
    """The registry subscribes to every partner's intake by pattern: show it as one channel with
    a `partner` parameter, the way a partner writes it."""
    channel["address"] = contracts.REGISTRATION_SUBMITTED.topic + ".{partner}"
    channel["parameters"] = {
        "partner": {
            "description": (
                "The partner's name (lower-case letters, digits and '-'). Each partner has a topic of"
                " its own, which only its Kafka principal `partner-<partner>` may write (SASL/SCRAM"
                " + ACL): the registry takes the registration's `source` from it, and refuses a body"
                " whose `source` names another partner (SOURCE_MISMATCH). An office operator adds a"
                " partner with `muba partners add NAME` (principal, password, topic, ACLs)."
            ),
            "examples": ["desa-online", "operator-sekayu"],
        }
    }
    channel["bindings"]["kafka"].pop("topic", None)


def document(service: Service) -> dict[str, Any]:
    """The service's AsyncAPI document: FastStream's, completed with payloads, headers, keys and
    the channels it publishes to, in a fixed order (FastStream keeps subscribers in a WeakSet, so
    its own order changes from one process to the next)."""
    app = service.create_app(_settings(service))
    generated: dict[str, Any] = app.schema.to_specification().to_jsonable()
    (server,) = generated["servers"]
    operation_of = {op["channel"]["$ref"]: op for op in generated.get("operations", {}).values()}

    consumed: dict[str, str] = {}  # channel id -> topic
    for channel_id, channel in generated.get("channels", {}).items():
        if channel["address"] == topics.intake_pattern():
            _as_partner_channel(channel)
            consumed[channel_id] = contracts.REGISTRATION_SUBMITTED.topic
            continue
        consumed[channel_id] = channel["address"]
    unknown = sorted(set(consumed.values()) - set(CONTRACTS))
    if unknown:
        raise SystemExit(f"deploy.docs: {service.name} has channels on {unknown}, which CONTRACTS lacks")
    models = [CONTRACTS[t].model for t in (*consumed.values(), *service.publishes)]
    refs, schemas = _payload_schemas(sorted(set(models), key=lambda m: m.__name__))

    # (channel id, channel, operation, message id, message): what it receives, then what it sends,
    # each in the order of the flow (CONTRACTS).
    order = list(CONTRACTS)
    entries: list[tuple[str, dict[str, Any], dict[str, Any], str, dict[str, Any]]] = []
    for channel_id, topic in sorted(consumed.items(), key=lambda item: (order.index(item[1]), item[0])):
        channel = generated["channels"][channel_id]
        contract = CONTRACTS[topic]
        message = _message(topic, contract, refs[contract.model.__name__])
        operation = operation_of[f"#/channels/{channel_id}"]
        entries.append((channel_id, channel, operation, _channel_message(channel), message))
    for topic in service.publishes:
        contract = CONTRACTS[topic]
        channel_id = f"{service.name}:send:{topic}"
        message_id = f"{channel_id}:Message"
        channel = {
            "address": topic,
            "description": f"{service.name} publishes here through its transactional outbox.",
            "servers": [{"$ref": f"#/servers/{server}"}],
            "messages": {"Message": {"$ref": f"#/components/messages/{message_id}"}},
            "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING_VERSION}},
        }
        operation = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/Message"}],
        }
        message = _message(topic, contract, refs[contract.model.__name__])
        entries.append((channel_id, channel, operation, message_id, message))

    info = dict(generated["info"])
    info["description"] = (
        f"{service.summary}\n\nKafka contract of the `{service.name}` service of Muba's BPJS "
        "Ketenagakerjaan programme. Generated by `make docs` (deploy/docs.py) from the service and "
        "shared/events: do not edit by hand."
    )
    servers = {
        server: generated["servers"][server]
        | {
            "description": "The local development broker (`make infra-up`); every environment sets "
            "its own (`KAFKA_BOOTSTRAP_SERVERS`)."
        }
    }
    doc: dict[str, Any] = {
        "asyncapi": generated["asyncapi"],
        "info": info,
        "defaultContentType": generated["defaultContentType"],
        "servers": servers,
        "channels": {channel_id: channel for channel_id, channel, *_ in entries},
        "operations": {channel_id: operation for channel_id, _, operation, *_ in entries},
        "components": {
            "messages": {message_id: message for *_, message_id, message in entries},
            "schemas": schemas,
            # SASL/SCRAM-SHA-512, as FastStream describes the broker's security.
            **(
                {"securitySchemes": generated["components"]["securitySchemes"]}
                if "securitySchemes" in generated.get("components", {})
                else {}
            ),
        },
    }
    leftover = set(generated) - set(doc)
    if leftover:
        raise SystemExit(f"deploy.docs: FastStream wrote {sorted(leftover)}, which deploy.docs drops")
    return doc


def render(service: Service) -> dict[str, str]:
    """File name -> content of the service's documents (JSON and YAML of the same document)."""
    doc = document(service)
    return {
        f"{service.name}.json": json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
        f"{service.name}.yaml": yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100),
    }


def render_all() -> dict[str, str]:
    return {name: text for service in SERVICES for name, text in render(service).items()}


def write(out: Path) -> list[Path]:
    """Write every document into `out`, removing documents of services that no longer exist."""
    out.mkdir(parents=True, exist_ok=True)
    files = render_all()
    for stale in sorted(out.glob("*.json")) + sorted(out.glob("*.yaml")):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale(out: Path) -> list[str]:
    """The documents in `out` that differ from what the sources generate (missing, changed, extra)."""
    files = render_all()
    present = {p.name for p in (*out.glob("*.json"), *out.glob("*.yaml"))}
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
        if differing:
            print(f"deploy.docs: not up to date in {out}: {', '.join(differing)}; run `make docs`")
            return 1
        print(f"deploy.docs: {out} is up to date")
        return 0
    for path in write(out):
        print(f"deploy.docs: wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
