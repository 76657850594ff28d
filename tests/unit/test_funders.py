"""Funder lists without servers: the office's file as the CLI reads it, the import body as the
registry checks it, the keyed hash, and the registration of a listed NIK (the handler with the
in-memory store)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from muba.funders import parse_csv, read_funder_file
from muba.workers_file import FileError
from services.registry.domain.funders import (
    FieldError,
    Funding,
    NikKey,
    already_funded,
    funder_key,
    parse_import,
)
from services.registry.handlers import RegistryHandlers
from services.registry.repository import RegistryStore
from services.registry.settings import NikKeyError, RegistrySettings, key_path, load_nik_key
from shared import contracts, topics
from shared.consumer import Incoming, MessageContext, Publisher
from shared.events.registry import RegistrationRejected, RegistrationSubmitted, WorkerRegistered
from shared.validation import ALREADY_FUNDED
from testkit.samples import sample_registration
from tests.fakes.registry import InMemoryRegistryStore

NIK = "1606015208900003"
OTHER = "1606024107850012"
KEY = NikKey(b"unit-tests-funders-key-0123456789abcdef")
ROOT = Path(__file__).resolve().parents[2]


# --- the office's file ----------------------------------------------------------------------------


def test_a_csv_is_read_whatever_its_separator_bom_quotes_and_nik_forms() -> None:
    text = (
        "\ufeffNo;Nama;No. NIK;Desa\r\n"
        '1;Siti;"1606.0152.0890-0003";Sukajadi\r\n'
        "2;Budi; 1606 0241 0785 0012 ;Soakeliling\r\n"
        "3;Siti lagi;'1606015208900003;Sukajadi\r\n"  # Excel's text mark; the same NIK again
        "\r\n"
    )
    read = parse_csv(text)
    assert read.niks == [NIK, OTHER]
    assert (read.lines, read.repeated, read.problems) == (3, 1, [])

    for separator in (",", "\t", "|"):
        assert parse_csv(f"nik{separator}nama\n{NIK}{separator}Siti\n").niks == [NIK]


def test_a_line_without_a_nik_is_reported_by_its_number_never_with_its_content() -> None:
    text = f"NIK,nama\n{NIK},Siti\n160601520890,Budi\n1.60602E+15,Ani\n16060152O8900003,Joko\n,Tono\n"
    read = parse_csv(text)
    assert read.niks == [NIK]
    assert [p.line for p in read.problems] == [3, 4, 5, 6]
    reasons = " ".join(p.reason for p in read.problems)
    assert "12 digits" in reasons and "scientific notation" in reasons and "no NIK" in reasons
    for secret in ("160601520890", "16060152O8900003", "Budi", "Joko"):
        assert secret not in reasons


def test_a_file_without_a_single_nik_column_is_refused_saying_how_to_name_it() -> None:
    with pytest.raises(FileError, match="NIK column"):
        parse_csv("nama,desa\nSiti,Sukajadi\n")
    with pytest.raises(FileError, match="NIK column"):
        parse_csv("nik,no_nik\n1,2\n")  # which one?


def test_the_demo_file_holds_only_niks() -> None:
    read = read_funder_file(ROOT / "deploy" / "demo_data" / "pake-kelambu.csv")
    assert read.niks and read.problems == []


# --- the import body, as the registry checks it ------------------------------------------------------


def body(**changes: object) -> dict[str, object]:
    return {
        "funder": " PAKE  KELAMBU ",
        "source_code": "sg",
        "description": "APBD Kabupaten Musi Banyuasin",
        "file_name": "pake-kelambu.csv",
        "niks": [NIK, "1606.0241.0785-0012", NIK],
    } | changes


def test_an_import_body_is_normalised_and_each_nik_kept_once() -> None:
    funders = parse_import(body())
    assert (funders.funder, funders.funder_key, funders.source_code) == ("PAKE KELAMBU", "pake kelambu", "SG")
    assert funders.niks == (NIK, OTHER)
    assert funder_key("Pake kelambu") == funders.funder_key


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"niks": [NIK, "12345"]}, "niks[1]"),
        ({"niks": [NIK, 1606015208900003]}, "niks[1]"),
        ({"niks": []}, "niks"),
        ({"niks": NIK}, "niks"),
        ({"source_code": "XX"}, "source_code"),
        ({"funder": ""}, "funder"),
        ({"funder": "a\x00b"}, "funder"),
        ({"file_name": None}, "file_name"),
        ({"nik": NIK}, "nik"),
    ],
)
def test_a_bad_import_body_is_refused_by_field_without_echoing_a_nik(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(FieldError) as refused:
        parse_import(body(**changes))
    assert refused.value.field == field
    assert "12345" not in str(refused.value) and NIK not in str(refused.value)


# --- the keyed hash ------------------------------------------------------------------------------------


def test_the_hash_is_keyed_and_the_key_named_without_showing_it() -> None:
    other_key = NikKey(b"another-key-another-key-another-key-0")
    assert len(KEY.digest(NIK)) == 32 and KEY.digest(NIK) != other_key.digest(NIK)
    assert KEY.digest(NIK) == KEY.digest(NIK)
    assert KEY.key_id != other_key.key_id and len(KEY.key_id) == 16
    assert "unit-tests" not in repr(KEY)
    with pytest.raises(ValueError, match="too short"):
        NikKey(b"short")


def test_the_same_list_in_another_order_has_the_same_digest() -> None:
    a = parse_import(body(niks=[NIK, OTHER]))
    b = parse_import(body(niks=[OTHER, NIK], file_name="renamed.csv"))
    c = parse_import(body(niks=[NIK]))
    digest = KEY.list_digest(a, [KEY.digest(n) for n in a.niks])
    assert KEY.list_digest(b, [KEY.digest(n) for n in b.niks]) == digest
    assert KEY.list_digest(c, [KEY.digest(n) for n in c.niks]) != digest


def test_the_key_comes_from_its_file_or_the_secrets_folder(tmp_path: Path) -> None:
    assert key_path(None, {"MUBA_SECRETS_DIR": str(tmp_path)})[0] == tmp_path / "registry" / "nik-key"
    key_file = tmp_path / "nik-key"
    with pytest.raises(NikKeyError, match="does not exist"):
        load_nik_key(str(key_file))
    key_file.write_text("k" * 10 + "\n")
    with pytest.raises(NikKeyError, match="REGISTRY_NIK_KEY_FILE: the NIK key is too short"):
        load_nik_key(str(key_file))
    key_file.write_text("k" * 43 + "\n")
    assert load_nik_key(str(key_file)).digest(NIK) == NikKey(b"k" * 43).digest(NIK)
    with pytest.raises(NikKeyError, match="does not exist"):
        RegistryHandlers(RegistrySettings(REGISTRY_NIK_KEY_FILE=str(tmp_path / "missing")))


# --- at registration -----------------------------------------------------------------------------------

PAKE_KELAMBU = Funding(
    "PAKE KELAMBU", "SG", "APBD Kabupaten Musi Banyuasin", "5f0c...", datetime(2026, 11, 1, tzinfo=UTC)
)


async def submit(store: InMemoryRegistryStore, registration: dict[str, object]) -> Publisher:
    handlers = RegistryHandlers(RegistrySettings(TOPIC_PREFIX="t1."), KEY)
    publisher = Publisher("registry", "t1.")
    incoming = Incoming(
        topic="t1." + topics.intake_topic("desa-online"),
        partition=0,
        offset=0,
        key=None,
        headers={},
        body=json.dumps(registration).encode(),
        envelope=None,
        timestamp_ms=0,
    )
    ctx = MessageContext[RegistrationSubmitted, RegistryStore](
        incoming, contracts.REGISTRATION_SUBMITTED, store, publisher
    )
    await handlers.on_registration_submitted(ctx)
    return publisher


async def test_a_nik_on_a_funder_list_is_rejected_already_funded_naming_the_funder() -> None:
    store = InMemoryRegistryStore()
    listed, free = sample_registration(1, run=41), sample_registration(2, run=41)
    store.fund(KEY.digest(str(listed["nik"])), PAKE_KELAMBU)
    store.fund(NikKey(b"an-old-key-an-old-key-an-old-key-00").digest(str(free["nik"])), PAKE_KELAMBU)

    rejected = (await submit(store, listed)).events
    assert [type(e) for e in rejected] == [RegistrationRejected]
    event = rejected[0]
    assert isinstance(event, RegistrationRejected)
    assert [(r.field, r.code) for r in event.reasons] == [("nik", ALREADY_FUNDED)]
    assert event.reasons[0].message == (
        "NIK ini sudah dilindungi BPJS Ketenagakerjaan melalui PAKE KELAMBU (APBD Kabupaten Musi"
        " Banyuasin); tidak perlu didaftarkan lagi."
    )
    assert await store.worker(str(listed["nik"])) is None
    submission = await store.submission("desa-online", str(listed["submission_id"]))
    assert submission is not None and submission.outcome == "rejected"
    assert str(listed["nik"]) not in event.model_dump_json()

    # Hashed with another key, a list holds nothing: that worker registers.
    assert [type(e) for e in (await submit(store, free)).events] == [WorkerRegistered]


def test_the_reason_names_a_funder_without_a_description_alone() -> None:
    reason = already_funded(Funding("Desa Sukajadi", "SD", None, "x", datetime(2026, 11, 1, tzinfo=UTC)))
    assert reason.message.startswith("NIK ini sudah dilindungi BPJS Ketenagakerjaan melalui Desa Sukajadi;")


# --- the gate in front of the import -----------------------------------------------------------------


def _scope(method: str, path: str, **headers: str) -> dict[str, object]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


def test_the_gate_takes_a_funder_list_larger_than_other_bodies_on_its_put_only() -> None:
    from shared.http_access import MAX_BODY_BYTES, Tokens, screen

    tokens = Tokens([])
    writable, limits = {"/api/funders", "/api/tariffs"}, {"/api/funders": 10 * MAX_BODY_BYTES}
    big = str(5 * MAX_BODY_BYTES)
    assert screen(_scope("PUT", "/api/funders", content_length=big), tokens, writable, limits) is None
    refusals = {
        "too large": _scope("PUT", "/api/funders", content_length=str(10 * MAX_BODY_BYTES + 1)),
        "chunked": _scope("PUT", "/api/funders", transfer_encoding="chunked"),
        "a POST": _scope("POST", "/api/funders", content_length="10"),
        "another PUT": _scope("PUT", "/api/tariffs", content_length=big),  # its own limit: the default
        "a GET's body": _scope("GET", "/api/funders", content_length=big),
        "elsewhere": _scope("PUT", "/api/funders/check", content_length="10"),
    }
    statuses = {}
    for what, scope in refusals.items():
        refused = screen(scope, tokens, writable, limits)
        statuses[what] = refused.status_code if refused is not None else None
    assert statuses == {
        "too large": 413,
        "chunked": 411,
        "a POST": 405,
        "another PUT": 413,
        "a GET's body": 413,
        "elsewhere": 405,
    }
    assert screen(_scope("GET", "/api/funders"), tokens, writable, limits) is None
