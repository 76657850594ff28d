"""The compatibility policy (shared/compatibility.py): deliberate breaking changes are caught with
where and why, additive ones pass, and the registry matches its released artifacts (CI)."""

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from shared import compatibility, contracts
from shared.compatibility import artifact, breaking_changes
from shared.contracts import Contract
from shared.events import EventModel


class Item(BaseModel):
    code: str
    amount_idr: int


class Enrolled(EventModel):
    """The released version: what subscribers built on."""

    worker_ref: str = Field(pattern=r"^[0-9a-f]{32}$")
    kecamatan_code: str = Field(max_length=2)
    package: Literal["JKK_JKM", "JKK_JKM_JHT"]
    months: int = Field(ge=1)
    company_name: str | None
    coverage_start: date
    items: list[Item] = Field(default_factory=list)
    note: str = ""
    enrolled_at: datetime


def contract(model: type[EventModel], **change: Any) -> Contract[Any]:
    fields: dict[str, Any] = {
        "area": "feed",
        "name": "worker-enrolled",
        "version": 1,
        "model": model,
        "producer": "sponsorship",
        "consumers": (),
        "key_of": lambda e: e.worker_ref,
        "key_doc": "The worker_ref.",
        "typed_by_area": True,
    }
    return Contract(**{**fields, **change})


def breaks(new: type[EventModel], **change: Any) -> list[str]:
    return breaking_changes(artifact(contract(Enrolled)), artifact(contract(new, **change)))


def variant(**fields: Any) -> type[EventModel]:
    """Enrolled with some fields replaced (annotation, default) or removed (None)."""
    annotations = dict(Enrolled.__annotations__)
    namespace: dict[str, Any] = {name: Enrolled.model_fields[name] for name in annotations}
    for name, spec in fields.items():
        if spec is None:
            annotations.pop(name)
            namespace.pop(name)
        else:
            annotations[name], namespace[name] = spec
    return type("Enrolled", (EventModel,), {"__annotations__": annotations, **namespace})


def test_the_same_schema_is_compatible() -> None:
    assert breaks(Enrolled) == []
    assert breaks(variant()) == []


def test_a_new_optional_field_and_new_descriptions_are_compatible() -> None:
    class Added(Enrolled):
        """Another summary."""

        occupation: str | None = None
        fallback: bool = False

    assert breaks(Added) == []
    described = variant(months=(int, Field(ge=1, description="Months the sponsor pays for")))
    assert breaks(described) == []


@pytest.mark.parametrize(
    ("change", "found"),
    [
        ({"months": None}, "payload.months: removed (or renamed)"),
        ({"package": (Literal["JKK_JKM"], ...)}, "payload.package: ['\"JKK_JKM_JHT\"'] no longer accepted"),
        ({"months": (int, Field(ge=3))}, "payload.months: minimum 1 became 3 (narrowed)"),
        ({"kecamatan_code": (str, Field(max_length=1))}, "payload.kecamatan_code: maxLength 2 became 1"),
        ({"kecamatan_code": (str, Field(max_length=2, pattern=r"^\d+$"))}, "payload.kecamatan_code: pattern"),
        ({"company_name": (str, ...)}, "payload.company_name: null is no longer accepted (type narrowed)"),
        ({"months": (str, ...)}, "payload.months: integer is no longer accepted (type narrowed)"),
        ({"note": (str, ...)}, "payload.note: optional became required"),
        ({"coverage_start": (datetime, ...)}, "payload.coverage_start: format 'date' became 'date-time'"),
        ({"items": (list[str], [])}, "payload.items[]: object is no longer accepted"),
    ],
)
def test_a_narrowed_removed_or_newly_required_field_breaks(change: dict[str, Any], found: str) -> None:
    assert any(b.startswith(found) for b in breaks(variant(**change))), breaks(variant(**change))


def test_a_renamed_field_is_a_removal_and_a_new_required_field() -> None:
    renamed = variant(months=None, coverage_months=(int, Field(ge=1)))
    assert breaks(renamed) == [
        "payload.months: removed (or renamed)",
        "payload.coverage_months: a new required field",
    ]


def test_nested_changes_are_found_in_objects_and_array_items() -> None:
    class ItemV2(BaseModel):
        code: str
        amount_idr: str  # was an integer

    found = breaks(variant(items=(list[ItemV2], [])))
    assert "payload.items[].amount_idr: integer is no longer accepted (type narrowed)" in found


def test_widening_breaks_what_we_publish_but_not_what_partners_send_us() -> None:
    widened = variant(package=(Literal["JKK_JKM", "JKK_JKM_JHT", "JKM_ONLY"], ...))
    assert breaks(widened) == ["payload.package: ['\"JKM_ONLY\"'] accepted now (widened)"]
    partner = {"producer": "partner", "consumers": ("sponsorship",)}
    released = artifact(contract(Enrolled, **partner))
    assert breaking_changes(released, artifact(contract(widened, **partner))) == []
    narrowed = variant(package=(Literal["JKK_JKM"], ...))
    assert breaking_changes(released, artifact(contract(narrowed, **partner)))  # partners' events fail


def test_a_changed_topic_type_key_or_header_breaks() -> None:
    assert breaks(Enrolled, version=2)[:2] == [
        "topic: 'feed.worker-enrolled.v1' became 'feed.worker-enrolled.v2'",
        "type: 'id.go.mubakab.disnaker.feed.worker-enrolled.v1' became"
        " 'id.go.mubakab.disnaker.feed.worker-enrolled.v2'",
    ]
    assert breaks(Enrolled, key_format="uuid") == ["key: format None became 'uuid'"]
    released = artifact(contract(Enrolled))
    current = json.loads(json.dumps(released))
    del current["headers"]["properties"]["ce_correlationid"]
    assert breaking_changes(released, current) == ["headers.ce_correlationid: removed (or renamed)"]
    current = json.loads(json.dumps(released))
    current["headers"]["properties"]["ce_source"]["const"] = "/muba/elsewhere"
    assert breaking_changes(released, current) == [
        "headers.ce_source: ['\"/muba/sponsorship\"'] no longer accepted",
        "headers.ce_source: ['\"/muba/elsewhere\"'] accepted now (widened)",
    ]


def test_a_real_contract_changed_on_purpose_is_caught(tmp_path: Path) -> None:
    """The check over a registry: the released artifacts, then a v1 whose model lost a field."""
    real = contracts.FEED_WORKER_ENROLLED
    compatibility.release([real], tmp_path, today=date(2026, 12, 2))
    assert compatibility.check([real], tmp_path) == []

    fewer = variant_of(real.model, drop="contribution_idr")
    changed = contract(fewer)
    assert compatibility.check([changed], tmp_path) == [
        "feed.worker-enrolled.v1: payload.contribution_idr: removed (or renamed)"
    ]
    # The breaking change as it should be made: a v2 beside v1, which stays released.
    v2 = contract(fewer, version=2)
    problems = compatibility.check([real, v2], tmp_path)
    assert problems == [
        "feed.worker-enrolled.v2: not released yet (run `make release-contracts`, commit the file)"
    ]
    assert compatibility.release([real, v2], tmp_path) == [tmp_path / "feed.worker-enrolled.v2.json"]
    assert compatibility.check([real, v2], tmp_path) == []
    # v1 may not simply vanish.
    assert compatibility.check([v2], tmp_path)[0].startswith(
        "feed.worker-enrolled.v1: released, but no longer"
    )


def variant_of(model: type[EventModel], drop: str) -> type[EventModel]:
    annotations = {n: f.annotation for n, f in model.model_fields.items() if n != drop}
    namespace = {n: f for n, f in model.model_fields.items() if n != drop}
    return type(model.__name__, (EventModel,), {"__annotations__": annotations, **namespace})


def test_release_never_rewrites_an_artifact(tmp_path: Path) -> None:
    real = contracts.FEED_WORKER_ENROLLED
    (path,) = compatibility.release([real], tmp_path, today=date(2026, 12, 2))
    before = path.read_bytes()
    assert compatibility.release([contract(variant_of(real.model, drop="months"))], tmp_path) == []
    assert path.read_bytes() == before


def test_every_event_version_of_the_registry_matches_its_released_schema() -> None:
    """The enforcement in CI: the committed artifacts (docs/contracts/released/) against the code."""
    assert compatibility.check() == []


# --- the subscribers' guide ----------------------------------------------------------------------


def test_the_subscribers_guide_is_on_every_services_docs_page_escaped() -> None:
    from shared import asyncapi, asyncapi_html

    guide = asyncapi_html.guide_text()
    for needed in ("ce_id", "ce_source", "worker_ref", "subscriber", "retention", "six months", "order"):
        assert needed in guide, needed
    for service in asyncapi.services():
        page = asyncapi_html.html_text(service)
        assert '<section id="subscribers"><h2>Subscribing to the programme&#x27;s events</h2>' in page
        assert "<code>feed.worker-enrolled.v1</code>" in page
    rendered = asyncapi_html.markdown("# T <b>\n\nA `x<y>` line\ncontinued.\n\n- one\n  more\n- two")
    assert rendered == (
        "<h2>T &lt;b&gt;</h2>\n<p>A <code>x&lt;y&gt;</code> line continued.</p>\n<ul><li>one more</li><li>two</li></ul>"
    )


def test_the_guide_in_docs_is_the_one_the_services_render() -> None:
    copy = Path(__file__).resolve().parents[2] / "docs" / "subscribers.md"
    from shared import asyncapi_html

    assert copy.read_text(encoding="utf-8") == asyncapi_html.guide_text(), "run `make docs`"
