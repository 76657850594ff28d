"""Tokens, roles and the request gate (shared/http_access.py), without a server."""

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest

from muba.config import Config
from muba.errors import UsageError
from shared.http_access import (
    DEFAULT_OPERATOR_TOKEN,
    DOCS_ROLES,
    EVERY_ROLE,
    MAX_BODY_BYTES,
    MAX_PARAMETER_CHARS,
    MAX_QUERY_STRING_BYTES,
    OFFICE_AND_AUDITOR,
    OFFICE_ONLY,
    AccessConfigError,
    Caller,
    ParameterError,
    Role,
    Tokens,
    is_loopback,
    mask_parameters,
    parse_parameters,
    parse_tokens_file,
    refuse_default_token_off_loopback,
    screen,
)
from shared.settings import ServiceSettings

OFFICE = "office-token-0123456789abcdef"
MEDCO = "medco-token-0123456789abcdef"
AUDITOR = "audit-token-0123456789abcdef"

TOKENS_FILE = f"""
# name          role              token
ani-office      office            {OFFICE}

medco-csr       company:medco     {MEDCO}
bpk-audit       auditor           {AUDITOR}
"""


def tokens() -> Tokens:
    return Tokens(parse_tokens_file(TOKENS_FILE))


# --- the tokens file ----------------------------------------------------------------------------


def test_the_tokens_file_gives_each_token_its_name_role_and_company() -> None:
    entries = parse_tokens_file(TOKENS_FILE)
    assert entries == [
        (Caller("ani-office", Role.OFFICE), OFFICE),
        (Caller("medco-csr", Role.COMPANY, "medco"), MEDCO),
        (Caller("bpk-audit", Role.AUDITOR), AUDITOR),
    ]


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        (f"ani office {OFFICE} extra", "3 fields"),
        ("ani office", "3 fields"),
        (f"Ani! office {OFFICE}", "name"),
        (f"ani admin {OFFICE}", "role 'admin'"),
        (f"medco company {MEDCO}", "names its company"),
        (f"medco company: {MEDCO}", "names its company"),
        (f"ani office:medco {OFFICE}", "only a company token names a company"),
    ],
)
def test_a_bad_line_is_named_without_showing_the_token(line: str, complaint: str) -> None:
    with pytest.raises(AccessConfigError) as error:
        parse_tokens_file(f"# header\n{line}\n", "api-tokens")
    assert complaint in str(error.value) and "api-tokens line 2" in str(error.value)
    assert OFFICE not in str(error.value) and MEDCO not in str(error.value)


def test_short_repeated_or_unprintable_tokens_are_refused_at_start() -> None:
    with pytest.raises(AccessConfigError, match="too short"):
        Tokens([(Caller("ani", Role.OFFICE), "short-token")])
    with pytest.raises(AccessConfigError, match="same token"):
        Tokens([(Caller("ani", Role.OFFICE), OFFICE), (Caller("medco", Role.COMPANY, "medco"), OFFICE)])
    with pytest.raises(AccessConfigError, match="given twice"):
        Tokens([(Caller("ani", Role.OFFICE), OFFICE), (Caller("ani", Role.AUDITOR), AUDITOR)])
    with pytest.raises(AccessConfigError, match="printable ASCII"):
        Tokens([(Caller("ani", Role.OFFICE), "tokén-0123456789abcdef")])


# --- identifying a caller -------------------------------------------------------------------------


def test_a_known_bearer_token_names_its_caller_and_anything_else_nobody() -> None:
    known = tokens()
    assert known.identify(f"Bearer {OFFICE}") == Caller("ani-office", Role.OFFICE)
    assert known.identify(f"bearer {MEDCO}".encode()) == Caller("medco-csr", Role.COMPANY, "medco")
    assert known.identify(f"Bearer  {AUDITOR} ") == Caller("bpk-audit", Role.AUDITOR)
    forged = OFFICE[:-1] + ("x" if OFFICE[-1] != "x" else "y")  # right length, wrong last byte
    for header in (
        None,
        "",
        "Bearer",
        "Bearer ",
        OFFICE,  # no scheme
        f"Basic {OFFICE}",
        f"Bearer {forged}",
        f"Bearer {OFFICE}x",
        f"Bearer {OFFICE[:-1]}",
        "Bearer wrong-token",
    ):
        assert known.identify(header) is None, header


def test_tokens_are_compared_as_digests_with_every_entry_whatever_matches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The constant-time path: sha256 digests (equal length whatever was sent) through
    hmac.compare_digest, against every configured token, no early exit; the token itself is
    never compared nor kept."""
    known = tokens()
    compared: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return bool(real(a, b))

    monkeypatch.setattr(hmac, "compare_digest", spy)
    for given in (OFFICE, "x", "y" * 5000):
        compared.clear()
        known.identify(f"Bearer {given}")
        assert len(compared) == len(known) == 3  # the first entry matching does not stop the loop
        assert all(len(a) == len(b) == 32 for a, b in compared)
        assert {a for a, _ in compared} == {hashlib.sha256(given.encode()).digest()}
    assert OFFICE.encode() not in {b for _, b in compared}
    assert OFFICE not in repr(vars(known))  # only digests are kept


# --- where tokens come from -----------------------------------------------------------------------


def test_nothing_configured_means_the_local_default_office_token() -> None:
    assert Tokens.configured().identify(f"Bearer {DEFAULT_OPERATOR_TOKEN}") == Caller("operator", Role.OFFICE)
    assert len(Tokens.configured(operator_token="")) == 0  # explicitly none


def test_operator_token_from_the_environment_or_a_file_and_roles_from_the_tokens_file(
    tmp_path: Path,
) -> None:
    tokens_file = tmp_path / "api-tokens"
    tokens_file.write_text(TOKENS_FILE)
    office_file = tmp_path / "operator-token"
    office_file.write_text("from-a-file-0123456789\n")

    from_env = Tokens.configured("env-office-0123456789", None, tokens_file)
    assert from_env.identify("Bearer env-office-0123456789") == Caller("operator", Role.OFFICE)
    assert from_env.identify(f"Bearer {MEDCO}") == Caller("medco-csr", Role.COMPANY, "medco")
    assert from_env.identify(f"Bearer {DEFAULT_OPERATOR_TOKEN}") is None  # a file given: no default

    from_file = Tokens.configured(None, office_file, None)
    assert from_file.identify("Bearer from-a-file-0123456789") == Caller("operator", Role.OFFICE)
    assert len(Tokens.configured(None, None, tokens_file)) == 3

    with pytest.raises(AccessConfigError, match="not both"):
        Tokens.configured("env-office-0123456789", office_file, None)
    with pytest.raises(AccessConfigError, match="MUBA_API_TOKENS_FILE: cannot read"):
        Tokens.configured(None, None, tmp_path / "missing")


def test_service_settings_read_the_token_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MUBA_OPERATOR_TOKEN_FILE", str(tmp_path / "op"))
    monkeypatch.setenv("MUBA_API_TOKENS_FILE", str(tmp_path / "tokens"))
    monkeypatch.delenv("MUBA_OPERATOR_TOKEN", raising=False)
    settings = ServiceSettings()
    assert settings.operator_token is None
    assert settings.operator_token_file == str(tmp_path / "op")
    assert settings.api_tokens_file == str(tmp_path / "tokens")


def test_the_cli_reads_the_office_token_from_the_environment_or_a_file(tmp_path: Path) -> None:
    token_file = tmp_path / "operator-token"
    token_file.write_text("from-a-file-0123456789\n")
    assert Config.from_env({}).operator_token == DEFAULT_OPERATOR_TOKEN
    assert Config.from_env({"MUBA_OPERATOR_TOKEN": "env-token"}).operator_token == "env-token"
    assert (
        Config.from_env({"MUBA_OPERATOR_TOKEN_FILE": str(token_file)}).operator_token
        == "from-a-file-0123456789"
    )
    with pytest.raises(UsageError, match="not both"):
        Config.from_env({"MUBA_OPERATOR_TOKEN": "x", "MUBA_OPERATOR_TOKEN_FILE": str(token_file)})
    with pytest.raises(UsageError, match="cannot read"):
        Config.from_env({"MUBA_OPERATOR_TOKEN_FILE": str(tmp_path / "missing")})


# --- the default token stays on loopback ----------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)
    refuse_default_token_off_loopback(host, Tokens.configured())  # allowed: nobody else can reach it


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.1.2.3", "muba.example.go.id", "192.168.0.5"])
def test_a_service_reachable_from_elsewhere_refuses_the_default_token(host: str, tmp_path: Path) -> None:
    assert not is_loopback(host)
    with pytest.raises(AccessConfigError, match="default token"):
        refuse_default_token_off_loopback(host, Tokens.configured())
    with pytest.raises(AccessConfigError, match="default token"):
        refuse_default_token_off_loopback(host, Tokens.configured(DEFAULT_OPERATOR_TOKEN))
    in_file = tmp_path / "tokens"
    in_file.write_text(f"laptop office {DEFAULT_OPERATOR_TOKEN}\n")
    with pytest.raises(AccessConfigError, match="default token"):
        refuse_default_token_off_loopback(host, Tokens.configured(None, None, in_file))
    refuse_default_token_off_loopback(host, Tokens.configured("a-real-secret-0123456789"))


# --- role decisions -------------------------------------------------------------------------------


def test_role_decisions() -> None:
    office = Caller("ani", Role.OFFICE)
    company = Caller("medco", Role.COMPANY, "medco")
    auditor = Caller("bpk", Role.AUDITOR)
    assert [c.may(OFFICE_ONLY) for c in (office, company, auditor)] == [True, False, False]
    assert [c.may(OFFICE_AND_AUDITOR) for c in (office, company, auditor)] == [True, False, True]
    assert [c.may(EVERY_ROLE) for c in (office, company, auditor)] == [True, True, True]
    assert [c.may(DOCS_ROLES) for c in (office, company, auditor)] == [True, False, True]
    assert [c.unmasked for c in (office, company, auditor)] == [True, False, False]


# --- the gate and the parameters ------------------------------------------------------------------


def scope(
    path: str = "/api/workers",
    method: str = "GET",
    query: bytes = b"",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 5555),
    }


def body_of(response: Any) -> Any:
    import json

    return json.loads(response.body)


def test_the_gate_lets_ordinary_requests_through() -> None:
    known = tokens()
    assert screen(scope(query=b"nik=1606015208900003"), known) is None
    assert screen(scope(method="HEAD"), known) is None
    assert screen(scope(headers={"content-length": "0"}), known) is None
    assert screen(scope("/docs/asyncapi", headers={"authorization": f"Bearer {AUDITOR}"}), known) is None


@pytest.mark.parametrize(
    ("request_scope", "status", "field"),
    [
        (scope(method="POST"), 405, "method"),
        (scope(method="DELETE"), 405, "method"),
        (scope(method="BREW"), 405, "method"),
        (scope("/docs/asyncapi/try", method="POST"), 405, "method"),
        (scope(headers={"content-length": str(5 * 1024 * 1024)}), 413, "body"),
        (scope(method="POST", headers={"content-length": str(MAX_BODY_BYTES + 1)}), 413, "body"),
        (scope(headers={"transfer-encoding": "chunked"}), 411, "body"),
        (scope(headers={"content-length": "lots"}), 400, "content-length"),
        (scope(query=b"source=x&nik=" + b"1" * 10 * 1024), 414, "nik"),
        (scope("/docs/asyncapi"), 401, "authorization"),
        (scope("/docs/asyncapi.json", headers={"authorization": "Bearer forged"}), 401, "authorization"),
        (scope("/docs/asyncapi", headers={"authorization": f"Bearer {MEDCO}"}), 403, None),
    ],
)
def test_the_gate_refuses_with_a_4xx_naming_the_field(
    request_scope: dict[str, Any], status: int, field: str | None
) -> None:
    refused = screen(request_scope, tokens())
    assert refused is not None and refused.status_code == status
    assert body_of(refused).get("field") == field
    assert OFFICE not in body_of(refused)["error"]


def test_put_passes_the_gate_only_to_a_writable_endpoint() -> None:
    known, writable = tokens(), {"/api/tariffs"}
    assert (
        screen(scope("/api/tariffs", method="PUT", headers={"content-length": "900"}), known, writable)
        is None
    )
    for refused in (
        screen(scope("/api/tariffs", method="PUT"), known),  # not writable in this service
        screen(scope("/api/commitments", method="PUT"), known, writable),
        screen(scope("/api/tariffs", method="POST"), known, writable),
    ):
        assert refused is not None and refused.status_code == 405
    allowed = screen(scope("/api/tariffs", method="DELETE"), known, writable)
    assert allowed is not None and (b"allow", b"GET, HEAD, PUT") in allowed.raw_headers
    too_large = scope("/api/tariffs", method="PUT", headers={"content-length": str(MAX_BODY_BYTES + 1)})
    assert (refused := screen(too_large, known, writable)) is not None and refused.status_code == 413


def test_parameters_are_text_of_bounded_size_without_control_characters() -> None:
    assert parse_parameters(b"nik=%27+OR+1%3D1--&x=1&x=2") == {"nik": "' OR 1=1--", "x": "2"}
    assert parse_parameters(b"source=desa%20online&empty=") == {"source": "desa online", "empty": ""}
    cases = [
        (b"nik=" + b"1" * (MAX_PARAMETER_CHARS + 1), "nik", 400),
        (b"source=a%00b", "source", 400),
        (b"source=a%0d%0aSet-Cookie:x", "source", 400),
        (b"source=%ff%fe", "query string", 400),
        (b"&".join(b"p%d=1" % i for i in range(30)), "query string", 400),
        (b"worker_id=" + b"a" * MAX_QUERY_STRING_BYTES, "worker_id", 414),
    ]
    for query, field, status in cases:
        with pytest.raises(ParameterError) as error:
            parse_parameters(query)
        assert (error.value.field, error.value.status) == (field, status), query[:40]


def test_audited_parameters_are_masked() -> None:
    masked = mask_parameters(
        {"nik": "1606015208900003", "phone": "+6281234567890", "source": "see 1606015208900003", "x": "y"}
    )
    assert masked == {
        "nik": "160601********03",
        "phone": "+62812****7890",
        "source": "see 160601********03",
        "x": "y",
    }
    assert mask_parameters({"nik": "' OR 1=1--"}) == {"nik": "****"}
