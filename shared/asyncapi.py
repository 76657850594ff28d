"""Each service's AsyncAPI 3.0.0 document, built from the contract registry alone.

    document("registry")      # the dict
    json_text("registry")     # the bytes docs/asyncapi/registry.json holds and /docs/asyncapi.json serves
    yaml_text("registry")     # likewise for .yaml

What a service receives is `contracts.consumed_by(service)`, what it sends `contracts.published_by`;
each message has its model's JSON schema, its CloudEvents 1.0 headers (shared/envelope.py, binary
content mode) and its Kafka key. The only text not in the contracts or the models is DESCRIPTIONS:
what each service is, and what it does with each event it receives.

Nothing is read from the environment or the running service: the same sources give the same
bytes, so `deploy/docs.py` writes them into docs/asyncapi/ and every service serves them unchanged
(shared.runtime, `/docs/asyncapi.json` and `.yaml`; shared.asyncapi_html renders the page).
"""

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared import contracts, envelope
from shared.contracts import Contract

ASYNCAPI_VERSION: Final = "3.0.0"
KAFKA_BINDING_VERSION: Final = "0.4.0"
SCHEMAS_REF: Final = "#/components/schemas/"
SERVER: Final = "development"
SECURITY_SCHEME: Final = "scram512"
DOCUMENT_VERSION: Final = "1.0.0"
# The producer that stands for BPJS Ketenagakerjaan's side of the contracts.
BPJS_SIDE: Final = "bpjs-simulator"


@dataclass(frozen=True, slots=True)
class ServiceDescription:
    """What a service is, and what it does with each topic it receives (by topic)."""

    summary: str
    receives: Mapping[str, str]


DESCRIPTIONS: Final[Mapping[str, ServiceDescription]] = {
    "registry": ServiceDescription(
        "Registers non-formal workers submitted by partner systems, or names every reason why not.",
        {
            contracts.REGISTRATION_SUBMITTED.topic: "Registrations from each partner's own intake topic "
            f"({contracts.REGISTRATION_SUBMITTED.topic}.<partner>; the partner is the source).",
        },
    ),
    "sponsorship": ServiceDescription(
        "Takes company commitments, matches registered workers to them and enrolls them with "
        "BPJS Ketenagakerjaan.",
        {
            contracts.COMMITMENT_SUBMITTED.topic: "A company's commitment: store it with its budget, "
            "then sponsor waitlisted workers it covers.",
            contracts.WORKER_REGISTERED.topic: "A newly registered worker: reserve a slot of the "
            "best-fitting commitment, or waitlist.",
            contracts.WORKER_FUNDED_ELSEWHERE.topic: "Another payer already funds the worker (a funder "
            "list imported after they registered): withdraw them from the waitlist, or flag their "
            "enrollment for the office.",
            contracts.ENROLLMENT_CONFIRMED.topic: "BPJS enrolled the worker: record the KPJ number and "
            "coverage, tell the story onward.",
            contracts.ENROLLMENT_REJECTED.topic: "BPJS refused: release the slot and its budget, record "
            "why, and offer the slot onward.",
            contracts.PAYMENT_SUBMITTED.topic: "A company's payment, recorded by the office: allocate "
            "it to the company's open months oldest first (whole months, the rest a credit), once "
            "per reference, or reject it with every reason.",
            contracts.CONTRIBUTION_CONFIRMED.topic: "BPJS confirmed a paid month: the ledger line "
            "becomes confirmed, the proof of the month.",
            contracts.COMMITMENT_EXTENSION_SUBMITTED.topic: "A company renews a commitment: months more "
            "for every worker it sponsors (no month twice, no day's gap) and its budget with them, "
            "once per reference, or reject it with every reason.",
        },
    ),
    "notifications": ServiceDescription(
        "Tells workers, companies and the office about outcomes, each exactly once.",
        {
            contracts.REGISTRATION_REJECTED.topic: "The registry refused a registration: tell the worker "
            "(when reachable) and the office.",
            contracts.WORKER_WAITLISTED.topic: "No sponsor yet in the worker's kecamatan: tell them they "
            "are on the waitlist.",
            contracts.ENROLLMENT_COMPLETED.topic: "BPJS enrolled the worker: tell the worker their KPJ "
            "and coverage, and the sponsoring company.",
            contracts.ENROLLMENT_FAILED.topic: "BPJS refused the enrolment: tell the worker why and what "
            "to do, and the office.",
            contracts.INVOICE_ISSUED.topic: "A company's invoice for a month: tell the company its "
            "number, total and due date, and where to get the CSV of its workers.",
            contracts.INVOICE_REMINDER.topic: "An invoice still unpaid a few working days before its due "
            "date or after it: remind the company how much is unpaid and by when.",
            contracts.COVERAGE_ENDING.topic: "A worker's sponsored coverage ends in 30 or 7 days: tell "
            "the worker, and the company so that it can renew in time.",
            contracts.COVERAGE_EXTENDED.topic: "A renewal extended the worker's coverage: tell the worker "
            "it continues without a gap, on the same KPJ number.",
            contracts.COVERAGE_ENDED.topic: "A worker's sponsored coverage ended (its months ran out, or "
            "it lapsed unpaid): tell the worker what happens next (a fallback sponsor from a date, or "
            "the waitlist), the company and the office.",
        },
    ),
    "bpjs-simulator": ServiceDescription(
        "Stands in for BPJS Ketenagakerjaan (KC Musi Banyuasin) outside production: answers each "
        "enrollment request with a confirmation or a rejection, as BPJS would.",
        {
            contracts.ENROLLMENT_REQUESTED.topic: "An enrollment request: decide as BPJS would, and "
            "answer with a confirmation (a KPJ number) or a rejection.",
            contracts.CONTRIBUTION_PAID.topic: "A sponsor paid a member's month: confirm it (or lose "
            "it, SIMULATOR_CONTRIBUTION_LOSE_PERCENT of first sendings).",
        },
    ),
}

PARTNER_PARAMETER: Final = (
    "The partner's name (lower-case letters, digits and '-'). Each partner has a topic of its own,"
    " which only its Kafka principal `partner-<partner>` may write (SASL/SCRAM + ACL): the registry"
    " takes the registration's `source` from it, and refuses a body whose `source` names another"
    " partner (SOURCE_MISMATCH). An office operator adds a partner with `muba partners add NAME`"
    " (principal, password, topic, ACLs)."
)


def services() -> tuple[str, ...]:
    """Every service that receives or sends a contract (partners are not a service), in the order
    of the contracts' producers and consumers."""
    found: dict[str, None] = {}
    for contract in contracts.CONTRACTS:
        for name in (contract.producer, *contract.consumers):
            if name != "partner":
                found.setdefault(name)
    return tuple(found)


def _producer_name(contract: Contract[Any]) -> str:
    return "partner systems" if contract.partner_facing else f"`{contract.producer}`"


def _address(contract: Contract[Any]) -> str:
    return contract.topic + ".{partner}" if contract.per_partner else contract.topic


def _summary(model: type[BaseModel]) -> str:
    """The first paragraph of the model's docstring, on one line."""
    doc = (model.__doc__ or "").strip()
    return " ".join(doc.split("\n\n", 1)[0].split()) or model.__name__


def _payload_schemas(models: Sequence[type[BaseModel]]) -> tuple[dict[str, str], dict[str, Any]]:
    """Each model's `$ref` by model name, and components/schemas (nested models too, by name)."""
    refs, defs = models_json_schema(
        [(model, "validation") for model in models], ref_template=SCHEMAS_REF + "{model}"
    )
    by_name = {model.__name__: refs[(model, "validation")]["$ref"] for model in models}
    schemas = defs.get("$defs", {})
    return by_name, {name: schemas[name] for name in sorted(schemas)}


def headers_schema(contract: Contract[Any]) -> dict[str, Any]:
    """The CloudEvents 1.0 binary-mode Kafka headers (shared/envelope.py): required on every event
    the programme publishes, optional on the partner-facing topics."""
    partner = contract.partner_facing
    ce_type: dict[str, Any] = {"type": "string", "description": "CloudEvents `type`."}
    source: dict[str, Any] = {
        "type": "string",
        "description": "Who produced the event (CloudEvents `source`).",
    }
    if partner:
        ce_type["description"] += " When it ends in `.vN`, N must be the topic's version."
        ce_type["examples"] = [contract.event_type]
        source["description"] += " The partner system's own URI-reference."
    else:
        ce_type["const"] = contract.event_type
        if contract.producer == BPJS_SIDE:
            # BPJS's own systems name themselves; the simulator's source is only an example.
            source["examples"] = [contract.source]
        else:
            source["const"] = contract.source
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


def _message(contract: Contract[Any], payload_ref: str) -> dict[str, Any]:
    key: dict[str, Any] = {"description": contract.key_doc, "type": "string"}
    if contract.key_format:
        key["format"] = contract.key_format
    return {
        "name": contract.model.__name__,
        "title": contract.model.__name__,
        "summary": _summary(contract.model),
        "contentType": envelope.CONTENT_TYPE,
        "correlationId": {
            "description": "The flow's correlation id (CloudEvents extension `correlationid`).",
            "location": f"$message.header#/{envelope.H_CORRELATION}",
        },
        "headers": headers_schema(contract),
        "payload": {"$ref": payload_ref},
        "bindings": {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING_VERSION}},
    }


def _channel(service: str, contract: Contract[Any], action: str, message_id: str) -> dict[str, Any]:
    if action == "receive":
        what = DESCRIPTIONS[service].receives.get(contract.topic)
        if what is None:
            raise KeyError(f"shared/asyncapi.py DESCRIPTIONS: {service} lacks a line for {contract.topic}")
        description = f"{what}\n\nPublished by {_producer_name(contract)}."
    else:
        readers = ", ".join(f"`{c}`" for c in contract.consumers) or "no service of the programme"
        if contract in contracts.FEED:
            readers = (
                "subscribers outside the programme (the Kafka principal `subscriber`, which may read"
                " the public feed and nothing else; no personal data, the worker named by a pseudonym)"
            )
        description = f"`{service}` publishes here through its transactional outbox. Read by {readers}."
    deprecation = contract.deprecation
    if deprecation is not None:
        description += (
            f"\n\n**Deprecated**: superseded by `{deprecation.superseded_by}`, published beside it until"
            f" {deprecation.until.isoformat()}, then removed. {deprecation.why}"
        )
    channel: dict[str, Any] = {
        "address": _address(contract),
        "description": description,
        "servers": [{"$ref": f"#/servers/{SERVER}"}],
        "messages": {"Message": {"$ref": f"#/components/messages/{message_id}"}},
        # A per-partner channel is many topics: the Kafka binding names none.
        "bindings": {
            "kafka": ({} if contract.per_partner else {"topic": contract.topic})
            | {"bindingVersion": KAFKA_BINDING_VERSION}
        },
    }
    if deprecation is not None:
        channel["x-deprecated"] = {
            "supersededBy": deprecation.superseded_by,
            "until": deprecation.until.isoformat(),
        }
    if contract.per_partner:
        channel["parameters"] = {
            "partner": {"description": PARTNER_PARAMETER, "examples": ["desa-online", "operator-sekayu"]}
        }
    return channel


def document(service: str) -> dict[str, Any]:
    """The service's AsyncAPI document: what it receives, then what it sends, each in the order of
    the flow (contracts.CONTRACTS). KeyError for a service DESCRIPTIONS does not know."""
    described = DESCRIPTIONS[service]
    entries = [("receive", c) for c in contracts.consumed_by(service)] + [
        ("send", c) for c in contracts.published_by(service)
    ]
    models = sorted({c.model for _, c in entries}, key=lambda m: m.__name__)
    refs, schemas = _payload_schemas(models)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for action, contract in entries:
        channel_id = f"{service}:{action}:{contract.topic}"
        message_id = f"{channel_id}:Message"
        channels[channel_id] = _channel(service, contract, action, message_id)
        operations[channel_id] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/Message"}],
        }
        messages[message_id] = _message(contract, refs[contract.model.__name__])
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": f"muba-{service}",
            "version": DOCUMENT_VERSION,
            "description": f"{described.summary}\n\nKafka contract of the `{service}` service of Muba's "
            "BPJS Ketenagakerjaan programme. Generated by `make docs` (deploy/docs.py, "
            "shared/asyncapi.py) from shared/contracts.py and shared/events: do not edit by hand.",
        },
        "defaultContentType": envelope.CONTENT_TYPE,
        "servers": {
            SERVER: {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "The local development broker (`make infra-up`); every environment "
                "sets its own (`KAFKA_BOOTSTRAP_SERVERS`).",
                "security": [{"$ref": f"#/components/securitySchemes/{SECURITY_SCHEME}"}],
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": schemas,
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "scramSha512",
                    "description": "SASL/SCRAM-SHA-512 on every listener (SASL_PLAINTEXT on loopback "
                    "and the private network, SASL_SSL beyond): each service and each partner has a "
                    "principal of its own, which ACLs allow only the topics it reads or writes.",
                }
            },
        },
    }


@functools.cache
def json_text(service: str) -> str:
    """The document as docs/asyncapi/<service>.json holds it."""
    return json.dumps(document(service), indent=2, ensure_ascii=False) + "\n"


@functools.cache
def yaml_text(service: str) -> str:
    """The document as docs/asyncapi/<service>.yaml holds it."""
    return yaml.safe_dump(document(service), sort_keys=False, allow_unicode=True, width=100)


def files(service: str) -> dict[str, str]:
    """File name -> content of the service's published documents."""
    return {f"{service}.json": json_text(service), f"{service}.yaml": yaml_text(service)}
