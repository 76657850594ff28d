"""`muba tariffs show` and `muba tariffs load FILE` against a tiny local HTTP server that answers
GET/PUT /api/tariffs as sponsorship does (its document form, its refusals)."""

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from muba.cli import app
from services.sponsorship.domain.tariffs import TariffTableError, table_document, table_from_document
from services.sponsorship.repository import DEFAULT_TARIFF_FILE, default_tariff_table

TOKEN = "unit-test-operator-token"


class FakeSponsorship:
    def __init__(self) -> None:
        self.version = 1
        self.table = table_document(default_tariff_table())
        self.apply_discount = True
        self.puts: list[Any] = []

    def answer(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "digest": "0" * 64,
            "loaded_by": "operator",
            "loaded_at": "2026-12-01T01:00:00+00:00",
            "discount_applies_to_company_paid": self.apply_discount,
            "table": self.table,
        }


@pytest.fixture
def sponsorship() -> Iterator[tuple[FakeSponsorship, str]]:
    fake = FakeSponsorship()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path != "/sponsorship/api/tariffs":
                self._send(404, {"error": "not found"})
            else:
                self._send(200, fake.answer())

        def do_PUT(self) -> None:
            document = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.puts.append(document)
            try:
                table = table_from_document(document)
            except TariffTableError as exc:
                self._send(400, {"error": str(exc), "field": exc.problems[0].field})
                return
            fake.version += 1
            fake.table = table_document(table)
            self._send(200, fake.answer())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def env_for(base: str) -> dict[str, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    return {
        "REGISTRY_URL": f"{base}/registry",
        "SPONSORSHIP_URL": f"{base}/sponsorship",
        "NOTIFICATIONS_URL": f"{base}/notifications",
        "MUBA_OPERATOR_TOKEN": TOKEN,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed}",
        "KAFKA_PASSWORD": "unit-test-password",
        "TOPIC_PREFIX": "",
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }


runner = CliRunner()


def test_show_prints_validity_bands_jkm_jht_discounts_and_the_setting(
    sponsorship: tuple[FakeSponsorship, str],
) -> None:
    _, base = sponsorship
    result = runner.invoke(app, ["tariffs", "show"], env=env_for(base))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "versi 1" in out and "Berlaku 1 Juli 2015 s.d. seterusnya" in out
    assert "batas bawah penghasilan Rp1.000.000" in out and "JKM Rp6.800" in out and "JHT 2%" in out
    lines = out.splitlines()
    # the floor band, a band above it, the top band: each with its nominal income and its JKK
    assert any("s.d. Rp1.000.000" in line and "Rp10.000" in line for line in lines)
    assert any("Rp1.000.001 – Rp1.500.000" in line and "Rp15.000" in line for line in lines)
    assert any(
        "di atas Rp20.500.000" in line and "Rp20.700.000" in line and "Rp207.000" in line for line in lines
    )
    assert "BELUM PASTI" in out and "verify against Lampiran II" in out
    assert any("PP 50/2025" in line and "31 Maret 2027" in line and "50%" in line for line in lines)
    assert any(
        "PP 50/2025" in line and "1 April 2026" in line and "31 Desember 2026" in line for line in lines
    )
    assert "dibayar perusahaan (CSR): diterapkan (SPONSORSHIP_APPLY_DISCOUNT=true)" in out


def test_show_says_when_the_discount_is_switched_off(sponsorship: tuple[FakeSponsorship, str]) -> None:
    fake, base = sponsorship
    fake.apply_discount = False
    result = runner.invoke(app, ["tariffs", "show"], env=env_for(base))
    assert result.exit_code == 0 and "TIDAK diterapkan (SPONSORSHIP_APPLY_DISCOUNT=false)" in result.stdout


def test_show_json_is_a_file_load_takes(sponsorship: tuple[FakeSponsorship, str], tmp_path: Path) -> None:
    fake, base = sponsorship
    result = runner.invoke(app, ["tariffs", "show", "--format", "json"], env=env_for(base))
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document == fake.table
    document["tariffs"][0]["jkm_idr"] = 7_000
    path = tmp_path / "bpu.json"
    path.write_text(json.dumps(document))
    loaded = runner.invoke(app, ["tariffs", "load", str(path)], env=env_for(base))
    assert loaded.exit_code == 0, loaded.output
    assert "versi 2 dimuat" in loaded.stdout and "JKM Rp7.000" in loaded.stdout
    assert fake.puts == [document]


def test_the_shipped_default_file_loads(sponsorship: tuple[FakeSponsorship, str]) -> None:
    fake, base = sponsorship
    result = runner.invoke(app, ["tariffs", "load", str(DEFAULT_TARIFF_FILE)], env=env_for(base))
    assert result.exit_code == 0, result.output
    assert fake.puts == [json.loads(DEFAULT_TARIFF_FILE.read_text())]


def test_a_refused_table_names_the_row_and_exits_1(
    sponsorship: tuple[FakeSponsorship, str], tmp_path: Path
) -> None:
    fake, base = sponsorship
    document = json.loads(DEFAULT_TARIFF_FILE.read_text())
    document["tariffs"][0]["jkk_bands"][4]["income_from_idr"] = 2_600_000
    path = tmp_path / "gapped.json"
    path.write_text(json.dumps(document))
    result = runner.invoke(app, ["tariffs", "load", str(path)], env=env_for(base))
    assert result.exit_code == 1
    assert "HTTP 400" in result.output and "tariffs[0].jkk_bands[4]" in result.output
    assert fake.version == 1


def test_a_file_that_is_not_json_is_refused_before_asking(
    sponsorship: tuple[FakeSponsorship, str], tmp_path: Path
) -> None:
    fake, base = sponsorship
    path = tmp_path / "bpu.json"
    path.write_text("valid_from: 2015-07-01\n")
    result = runner.invoke(app, ["tariffs", "load", str(path)], env=env_for(base))
    assert result.exit_code == 1 and "not a JSON document" in result.output
    assert fake.puts == []
