"""Who may write and who may read: the Kafka principals and their ACLs, declared once.

The brokers run Kafka's StandardAuthorizer with `allow.everyone.if.no.acl.found=false`: what no
ACL below allows is denied. Each service reads only the topics it consumes (shared/topics.py's
`consumed_by`) and writes only what it publishes and the dead letters of what it reads; each
partner writes its own intake topic and reads nothing; the BPJS side reads enrollment requests
and answers them; operators (the `muba` CLI) submit commitments and look after dead letters;
subscribers read the public feed (shared/events/feed.py) and nothing else.
`admin` (provisioning, `muba partners add`), `broker` (between brokers) and `controller` are
super users and need no ACL.

`python -m shared.access table` prints the table the README shows (tests/unit/test_access.py
keeps them equal); `shared.kafka_admin provision` creates these ACLs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from shared import contracts, topics

SERVICES: Final = ("registry", "sponsorship", "notifications")
BPJS: Final = "bpjs"
OPERATOR: Final = "operator"
# Downstream subscribers (a data warehouse, the BPJS branch's reporting): the public feed only.
SUBSCRIBER: Final = "subscriber"
ADMIN: Final = "admin"
SUPER_USERS: Final = (ADMIN, "broker", "controller")
# The principals `make infra-up` (and compose's secrets) make a password for; partners come and go.
PRINCIPALS: Final = (*SUPER_USERS, *SERVICES, BPJS, OPERATOR, SUBSCRIBER)
# The catalogue names the BPJS side by its process; its principal is `bpjs`.
_CATALOGUE_NAME: Final = {BPJS: "bpjs-simulator"}
_DLQ_GROUP: Final = topics.REPLAY_GROUP

Operation = Literal["READ", "WRITE"]
Resource = Literal["TOPIC", "GROUP"]
Pattern = Literal["LITERAL", "PREFIXED"]


@dataclass(frozen=True, order=True)
class Grant:
    """One ACL: `principal` may `operation` on the topic/group `name` (or every name starting so)."""

    principal: str
    resource: Resource
    pattern: Pattern
    name: str
    operation: Operation

    def with_prefix(self, prefix: str) -> Grant:
        return Grant(self.principal, self.resource, self.pattern, prefix + self.name, self.operation)


def _topic(principal: str, operation: Operation, name: str, pattern: Pattern = "LITERAL") -> Grant:
    return Grant(principal, "TOPIC", pattern, name, operation)


def _group(principal: str, name: str) -> Grant:
    return Grant(principal, "GROUP", "PREFIXED", name, "READ")


def _service_grants(principal: str) -> list[Grant]:
    service = _CATALOGUE_NAME.get(principal, principal)
    grants: list[Grant] = []
    for spec in topics.EVENT_TOPICS:
        if service in spec.consumed_by:
            grants.append(_topic(principal, "READ", spec.name))
            # The BPJS simulator too dead-letters a request it cannot read (simulators/bpjs).
            grants.append(_topic(principal, "WRITE", topics.dead_letter_topic(spec.name)))
        if spec.published_by == service:
            grants.append(_topic(principal, "WRITE", spec.name))
    # Consumer groups: ours are named "<service>.<topic>", the simulator's "bpjs-simulator...".
    grants.append(_group(principal, service if principal == BPJS else f"{service}."))
    return grants


def static_grants() -> tuple[Grant, ...]:
    """Every ACL that does not depend on which partners exist."""
    grants: list[Grant] = []
    for principal in (*SERVICES, BPJS):
        grants += _service_grants(principal)
    # Operators: commitments on behalf of companies; dead letters read (`muba dlq list`). They
    # write no event topic and no intake: whoever holds the office CLI's credentials cannot
    # forge a registration, an enrollment or a partner. Replaying dead letters into the topic
    # they came from is an `admin` act (`muba dlq replay` connects as admin).
    grants.append(_topic(OPERATOR, "WRITE", contracts.COMMITMENT_SUBMITTED.topic))
    # Payments too: the office records a company's bank transfer (`muba payments record`). A
    # company's finance system has no principal of its own, so none can pay "for" another.
    grants.append(_topic(OPERATOR, "WRITE", contracts.PAYMENT_SUBMITTED.topic))
    grants.append(_topic(OPERATOR, "WRITE", contracts.COMMITMENT_EXTENSION_SUBMITTED.topic))
    for spec in topics.EVENT_TOPICS:
        if spec.consumed_by:
            grants.append(_topic(OPERATOR, "READ", topics.dead_letter_topic(spec.name)))
    grants.append(_group(OPERATOR, _DLQ_GROUP))
    # Subscribers read the public feed (no personal data) and nothing else, in groups of their own.
    grants += [_topic(SUBSCRIBER, "READ", c.topic) for c in contracts.FEED]
    grants.append(_group(SUBSCRIBER, f"{SUBSCRIBER}."))
    return tuple(sorted(set(grants)))


def partner_grants(partner: str) -> tuple[Grant, ...]:
    """A partner writes its own intake and nothing else; the registry reads it (it subscribes to
    every intake by pattern, and sees those it may read) and dead-letters it; operators read
    those dead letters (admin replays them into the intake).

    Literal names, one partner at a time: a PREFIXED grant on `registry.registration-submitted.v1.`
    would also let the registry read the intakes' dead letters and the operators read (and write)
    every intake itself, the workers' personal data as each partner sent it."""
    intake = topics.intake_topic(partner)
    dead_letters = topics.dead_letter_topic(intake)
    return (
        _topic(topics.partner_principal(partner), "WRITE", intake),
        _topic("registry", "READ", intake),
        _topic("registry", "WRITE", dead_letters),
        _topic(OPERATOR, "READ", dead_letters),
    )


def _namespaced(grant: Grant, prefix: str) -> Grant:
    # The replay group is one for every namespace: shared/dlq.py commits in REPLAY_GROUP itself,
    # not in TOPIC_PREFIX + REPLAY_GROUP (its offsets are per topic, so namespaces do not meet).
    if grant.resource == "GROUP" and grant.principal == OPERATOR and grant.name == _DLQ_GROUP:
        return grant
    return grant.with_prefix(prefix)


def grants(prefix: str = "", partners: Iterable[str] = ()) -> tuple[Grant, ...]:
    """The whole table for a topic namespace (`prefix`: TOPIC_PREFIX, "" in production)."""
    every = list(static_grants())
    for partner in partners:
        every += partner_grants(partner)
    return tuple(sorted({_namespaced(g, prefix) for g in every}))


def readers_of(topic: str, table: Sequence[Grant] | None = None) -> set[str]:
    """The principals an ACL of `table` lets read `topic` (super users aside)."""
    return {
        g.principal
        for g in (table if table is not None else grants())
        if g.resource == "TOPIC"
        and g.operation == "READ"
        and (g.name == topic if g.pattern == "LITERAL" else topic.startswith(g.name))
    }


def markdown_table(table: Sequence[Grant] | None = None) -> str:
    """The table for the README: principal -> writes, reads, groups (`*` marks a prefix)."""
    rows: dict[str, dict[str, list[str]]] = {}
    # One example partner, shown as `<partner>` (a name intake_topic would refuse).
    example = "partner-name-example"
    for g in table if table is not None else grants(partners=(example,)):
        shown = f"`{g.name}*`" if g.pattern == "PREFIXED" else f"`{g.name}`"
        shown = shown.replace(example, "<partner>")
        principal = g.principal.replace(example, "<partner>")
        column = "groups" if g.resource == "GROUP" else g.operation.lower() + "s"
        rows.setdefault(principal, {"writes": [], "reads": [], "groups": []})[column].append(shown)
    lines = ["| principal | writes | reads | consumer groups |", "|---|---|---|---|"]
    for principal in sorted(rows, key=lambda p: (p.startswith(topics.PARTNER_PRINCIPAL_PREFIX), p)):
        r = rows[principal]
        lines.append(
            f"| `{principal}` | {'<br>'.join(r['writes']) or '-'} | {'<br>'.join(r['reads']) or '-'}"
            f" | {'<br>'.join(r['groups']) or '-'} |"
        )
    lines.append(f"| {', '.join(f'`{p}`' for p in SUPER_USERS)} | super users | | |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["table"]:
        print("usage: python -m shared.access table", file=sys.stderr)
        return 2
    print(markdown_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
