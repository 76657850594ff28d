"""The operator CLI against the REAL system: the services and the BPJS simulator as processes, real
Kafka and PostgreSQL. `muba` is run as the operator runs it (a process), reaching the system only
through Kafka and the services' HTTP APIs."""

import asyncio
import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from deploy.stack import Stack
from muba.formatting import JAKARTA, percent
from muba.workers_file import check_rows, read_worker_file
from services.registry.domain.registration import validate_registration
from shared import topics
from testkit.infra import Infra
from tests.support import drop_partner, new_partner, truncate_schema

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "workers.csv"
ENROLLED_NIK = "1606015208900003"  # Siti Aminah, Sekayu: a valid row of the sample
UNKNOWN_TO_DUKCAPIL_NIK = "1606092908779999"  # valid for the registry; BPJS does not know it
PHONE_OF_ENROLLED = "81273451120"
MONTHS = "Januari|Februari|Maret|April|Mei|Juni|Juli|Agustus|September|Oktober|November|Desember"


def muba(env: dict[str, str], *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "muba", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def count(label: str, output: str) -> int:
    match = re.search(rf"\({re.escape(label)}\)\s+([0-9.]+)", output)
    assert match, f"no ({label}) count in:\n{output}"
    return int(match.group(1).replace(".", ""))


def report(env: dict[str, str]) -> dict[str, Any]:
    return json.loads(ok(muba(env, "report", "--format", "json")))  # type: ignore[no-any-return]


def wait_for_report(env: dict[str, str], done: Any, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        current = report(env)
        if done(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"the system did not get there in {timeout_s:.0f} s: {json.dumps(current)}")
        time.sleep(1.0)


def test_the_operator_cli_against_the_running_system(infra: Infra, topic_prefix: str) -> None:
    async def truncate() -> None:
        for service in ("registry", "sponsorship", "notifications"):
            await truncate_schema(infra, service)

    asyncio.run(truncate())
    # The partner whose file is imported: a principal of the test's own, its intake and ACLs. The
    # CLI uploads as that partner (`partner-<source>`), with the password it was given.
    source, as_partner = asyncio.run(new_partner(infra, topic_prefix))
    try:
        _the_operator_cli_against_the_running_system(infra, topic_prefix, source, as_partner.password or "")
    finally:
        asyncio.run(drop_partner(infra, source))


def _the_operator_cli_against_the_running_system(
    infra: Infra, topic_prefix: str, source: str, partner_password: str
) -> None:
    today = datetime.now(JAKARTA).date()
    checked = check_rows(source, read_worker_file(SAMPLE).rows)
    valid = [row for row in checked if row.valid]  # by the contract: what the CLI publishes
    invalid = [row for row in checked if row.reasons]
    # The registry's domain rules (age, NIK against birth date, letters of a name) refuse a few
    # more; the sample's ages move with the calendar, so count what today's rules say.
    registrable = [
        row for row in valid if not isinstance(validate_registration(row.payload, today=today), list)
    ]
    assert len(registrable) >= 20 and len(invalid) >= 3 and len(valid) > len(registrable)
    enrollable = len([row for row in registrable if not row.payload["nik"].endswith("9999")])
    assert enrollable == len(registrable) - 1

    stack_env = {
        "TOPIC_PREFIX": topic_prefix,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        **{f"{s.upper()}_DATABASE_URL": url for s, url in infra.database_urls.items()},
    }
    with Stack(env=stack_env) as stack:
        stack.start_all()
        stack.wait_ready()
        ports = {p.name: p.port for p in stack.processes}
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
            "TOPIC_PREFIX": topic_prefix,
            "REGISTRY_URL": f"http://127.0.0.1:{ports['registry']}",
            "SPONSORSHIP_URL": f"http://127.0.0.1:{ports['sponsorship']}",
            "NOTIFICATIONS_URL": f"http://127.0.0.1:{ports['notifications']}",
            "MUBA_OPERATOR_TOKEN": "muba-local-operator",
            "COLUMNS": "160",
            "NO_COLOR": "1",
        }
        # The office (commitments, dlq) connects as `operator`; an upload as the partner itself.
        as_partner = {**env, "KAFKA_PASSWORD": partner_password}

        # Two companies commit: one for the oil-palm kecamatan, one for the whole regency.
        hindoli = ok(
            muba(
                env,
                "commitments", "add",
                "--commitment-id", "hindoli-2026", "--company-id", "pt-hindoli", "--company-name", "PT Hindoli",
                "--kecamatan", "Sungai Lilin", "--kecamatan", "Keluang",
                "--slots", "3", "--months", "12", "--package", "JKK_JKM_JHT",
                "--preferred-occupation", "buruh kebun sawit", "--email", "csr@hindoli.example",
                "--wait",
            )
        )  # fmt: skip
        assert "accepted" in hindoli
        # The budget shown on submitting is sponsorship's own quote: the one it accepted with.
        quoted = re.search(r"Anggaran\s+(Rp[0-9.]+) \(", hindoli)
        accepted = re.search(r"accepted\): anggaran (Rp[0-9.]+),", hindoli)
        assert quoted and accepted and quoted.group(1) == accepted.group(1), hindoli
        ok(
            muba(
                env,
                "commitments", "add",
                "--commitment-id", "medco-2026", "--company-id", "medco-ep-grissik",
                "--company-name", "Medco E&P Grissik", "--kecamatan", "*",
                "--slots", "40", "--months", "6", "--package", "JKK_JKM",
                "--webhook-url", "https://csr.medco.example/bpjs", "--wait",
            )
        )  # fmt: skip
        refused = muba(
            env, "commitments", "add", "--commitment-id", "x", "--company-id", "x", "--company-name", "X",
            "--kecamatan", "Palembang", "--slots", "5", "--months", "12", "--package", "JKK_JKM",
        )  # fmt: skip
        assert refused.returncode == 1 and "KECAMATAN_UNKNOWN" in refused.stdout

        # The partner's file: the valid rows are published, the invalid ones reported row by row.
        first = ok(muba(as_partner, "import", "workers", str(SAMPLE), "--source", source))
        assert count("published", first) == len(valid)
        assert count("invalid", first) == len(invalid)
        for code in {r.code for row in invalid for r in row.reasons}:
            assert code in first
        assert "1606010403850017" not in first  # the duplicated NIK is shown masked

        # About 25 workers for 43 slots: all are sponsored; BPJS refuses the one NIK Dukcapil does not know.
        settled = wait_for_report(
            env,
            lambda r: (
                r["submissions"]["registered"] == len(registrable)
                and r["submissions"]["rejected"] == len(valid) - len(registrable)
                and r["enrolled"] + r["failed"] == len(registrable)
                and r["requested"] == 0
            ),
        )
        assert (settled["enrolled"], settled["failed"], settled["waitlisted"]) == (enrollable, 1, 0)

        # Re-running the same file publishes nothing twice.
        second = ok(muba(as_partner, "import", "workers", str(SAMPLE), "--source", source))
        assert count("published", second) == 0
        assert count("already submitted", second) == len(valid)

        # With --include-invalid the registry records the rejections (once, too).
        third = ok(
            muba(as_partner, "import", "workers", str(SAMPLE), "--source", source, "--include-invalid")
        )
        assert count("published", third) == len(invalid)
        rejected = wait_for_report(
            env, lambda r: r["submissions"]["rejected"] == len(invalid) + len(valid) - len(registrable)
        )
        assert rejected["rejected_by_code"]["DUPLICATE_NIK"] == 1
        assert {"NIK_FORMAT", "PHONE_INVALID", "KECAMATAN_UNKNOWN", "AGE_BELOW_MINIMUM"} <= set(
            rejected["rejected_by_code"]
        )
        by_kecamatan = {row["kecamatan"]: row for row in rejected["by_kecamatan"]}
        assert by_kecamatan["Sungai Keruh"]["rejected"] >= 1  # the landline number, in Sungai Keruh
        assert sum(row["enrolled"] for row in rejected["by_kecamatan"]) == enrollable
        fourth = ok(
            muba(as_partner, "import", "workers", str(SAMPLE), "--source", source, "--include-invalid")
        )
        assert count("published", fourth) == 0

        # Where one worker stands: enrolled, with KPJ and coverage dates, NIK and phone masked.
        deadline = time.monotonic() + 60
        while "enrollment_confirmed" not in (status := ok(muba(env, "status", ENROLLED_NIK))):
            assert time.monotonic() < deadline, f"the worker was not notified:\n{status}"
            time.sleep(1.0)  # notifications follow the enrollment asynchronously
        print(status)
        assert "160601********03" in status
        assert re.search(r"Nomor KPJ\s+\d{11}", status)
        assert re.search(
            rf"Masa perlindungan\s+\d{{1,2}} ({MONTHS}) \d{{4}} s\.d\. \d{{1,2}} ({MONTHS}) \d{{4}}", status
        )
        assert "enrolled" in status and "enrollment_confirmed" in status
        assert PHONE_OF_ENROLLED not in status + muba(env, "status", ENROLLED_NIK).stderr

        failed = ok(muba(env, "status", UNKNOWN_TO_DUKCAPIL_NIK))
        assert "failed" in failed and "NIK_NOT_FOUND" in failed

        unknown = muba(env, "status", "1606015208900004")
        assert unknown.returncode == 1 and "NIK not found" in unknown.stderr

        table = ok(muba(env, "report"))
        print(table)
        assert f"{enrollable} / 10.000 ({percent(enrollable, 10_000)})" in table
        assert "PT Hindoli" in table and "Medco E&P Grissik" in table and "Jirak Jaya" in table
        rows = list(csv.reader(io.StringIO(ok(muba(env, "report", "--format", "csv")))))
        assert rows[0] == ["section", "name", "metric", "value"]
        assert ["total", "", "enrolled", str(enrollable)] in rows

        commitments = ok(muba(env, "commitments", "list"))
        print(commitments)
        assert "PT Hindoli" in commitments and "Seluruh Kabupaten Musi Banyuasin" in commitments
        assert re.search(r"Rp[0-9]{1,3}(\.[0-9]{3})+", commitments)
        listed = json.loads(ok(muba(env, "commitments", "list", "--format", "json")))
        assert sum(c["enrolled"] for c in listed) == enrollable
        assert sum(c["slots_used"] for c in listed) == enrollable  # the refused enrollment released its slot

        dead = ok(muba(env, "dlq", "list", "--topic", topics.intake_topic(source)))
        assert "no dead letters" in dead

    # The system is gone: the CLI says so and how to start it.
    gone = muba(env, "report")
    assert gone.returncode == 3
    assert f"the system is not running at {env['REGISTRY_URL']}" in gone.stderr
