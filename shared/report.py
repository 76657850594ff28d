"""The programme's progress, joined from the three services' /api/report answers (and
sponsorship's /api/coverage: the coverage lifecycle's numbers and each commitment's budget burn).

`build_report` is pure (dicts in, dict out): `muba report` (muba/report.py) renders it as tables,
CSV or JSON, and the office's dashboard (services/dashboard) shows the very same figures, so the
two can never disagree about what the programme has done.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from shared.kecamatan import KECAMATAN

DEFAULT_TARGET: Final = 10_000
_KECAMATAN_ORDER: Final = {name: i for i, name in enumerate(KECAMATAN.values())}
# Enrolled workers by what BPJS did (EnrollmentConfirmed.membership): new members, existing
# members' own KPJ numbers continued (active) or resumed (lapsed).
MEMBERSHIPS: Final = ("new", "continued", "resumed")
# Workers another payer funds: withdrawn from the waitlist, flagged with an enrollment (the
# office decides), noticed before sponsorship heard of them.
FUNDED_ELSEWHERE: Final = ("withdrawn", "flagged", "not_registered")
# The coverage job's numbers of its latest day (GET /api/coverage), and its totals since the start.
COVERAGE_DAY: Final = (
    "workers_covered",
    "workers_uncovered",
    "unplanned_gaps",
    "members_at_risk",
    "members_six_paid_months",
)
COVERAGE_TOTALS: Final = ("coverage_days_lost", "unplanned_gap_days")
BURN_NUMBERS: Final = (
    "budget_idr",
    "ledger_idr",
    "paid_idr",
    "missed_idr",
    "months_left",
    "live_enrollments",
)


def as_int(value: Any) -> int:
    """A count or an amount from a service's JSON (anything else: 0)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return 0


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def build_report(
    registry: Mapping[str, Any],
    sponsorship: Mapping[str, Any],
    notifications: Mapping[str, Any] | None = None,
    coverage: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Join the services' reports: kecamatan rows list all 15 kecamatan (in code order) with
    sponsorship's enrolled/waitlisted/failed and the registry's rejections; with sponsorship's
    /api/coverage, a coverage section."""
    submissions = as_mapping(registry.get("submissions"))
    target = as_int(sponsorship.get("target")) or DEFAULT_TARGET
    enrolled = as_int(sponsorship.get("enrolled"))
    report: dict[str, Any] = {
        "target": target,
        "enrolled": enrolled,
        "progress_percent": round(100.0 * enrolled / target, 2) if target else 0.0,
        "requested": as_int(sponsorship.get("requested")),
        "waitlisted": as_int(sponsorship.get("waitlisted")),
        "failed": as_int(sponsorship.get("failed")),
        "submissions": {
            "registered": as_int(submissions.get("registered")),
            "rejected": as_int(submissions.get("rejected")),
        },
        "rejected_by_code": _rejected_by_code(as_mapping(registry.get("rejected_by_code"))),
        "budget_committed_idr": as_int(sponsorship.get("budget_committed_idr")),
        "budget_used_idr": as_int(sponsorship.get("budget_used_idr")),
        "by_kecamatan": _by_kecamatan(registry, sponsorship),
        "by_company": _by_company(as_mapping(sponsorship.get("by_company"))),
        "by_occupation": _by_occupation(registry, sponsorship),
        "enrolled_by_membership": {
            m: as_int(as_mapping(sponsorship.get("enrolled_by_membership")).get(m)) for m in MEMBERSHIPS
        },
        # Another payer funds them (a funder list imported after they registered).
        "funded_elsewhere": {
            k: as_int(as_mapping(sponsorship.get("funded_elsewhere")).get(k)) for k in FUNDED_ELSEWHERE
        },
        "funded_elsewhere_flagged": [
            dict(as_mapping(r))
            for r in sponsorship.get("funded_elsewhere_flagged") or ()
            if isinstance(r, Mapping)
        ],
    }
    if notifications is not None:
        report["notifications"] = _notifications(notifications)
    if coverage is not None:
        report["coverage"] = _coverage(coverage)
    return report


def _coverage(coverage: Mapping[str, Any]) -> dict[str, Any]:
    """The latest day's numbers (the newest of `days`: today's once the job ran), the totals, and
    each commitment's budget burn."""
    days = [d for d in coverage.get("days") or () if isinstance(d, Mapping)]
    latest: Mapping[str, Any] = days[0] if days else {}
    totals = as_mapping(coverage.get("totals"))
    return {
        "day": latest.get("day"),
        **{k: as_int(latest.get(k)) for k in COVERAGE_DAY},
        **{k: as_int(totals.get(k)) for k in COVERAGE_TOTALS},
        "commitments": [
            {
                "commitment_id": str(c.get("commitment_id", "")),
                "company_name": str(c.get("company_name", "")),
                **{k: as_int(c.get(k)) for k in BURN_NUMBERS},
                "covered_until": c.get("covered_until"),
                "suspended_on": c.get("suspended_on"),
            }
            for c in coverage.get("commitments") or ()
            if isinstance(c, Mapping)
        ],
    }


def _rejected_by_code(by_code: Mapping[str, Any]) -> dict[str, int]:
    """Most frequent first, then by code."""
    return {code: as_int(n) for code, n in sorted(by_code.items(), key=lambda kv: (-as_int(kv[1]), kv[0]))}


def _by_kecamatan(registry: Mapping[str, Any], sponsorship: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every kecamatan of the regency in code order, then any other name a service reported."""
    spons_kec = as_mapping(sponsorship.get("by_kecamatan"))
    rejected_kec = as_mapping(registry.get("rejected_by_kecamatan"))
    registered_kec = as_mapping(registry.get("registered_by_kecamatan"))
    names = set(KECAMATAN.values()) | set(spons_kec) | set(rejected_kec) | set(registered_kec)
    by_kecamatan: list[dict[str, Any]] = []
    for name in sorted(names, key=lambda n: (_KECAMATAN_ORDER.get(n, len(_KECAMATAN_ORDER)), n)):
        row = as_mapping(spons_kec.get(name))
        by_kecamatan.append(
            {
                "kecamatan": name,
                "registered": as_int(registered_kec.get(name)),
                "enrolled": as_int(row.get("enrolled")),
                "waitlisted": as_int(row.get("waitlisted")),
                "failed": as_int(row.get("failed")),
                "rejected": as_int(rejected_kec.get(name)),
            }
        )
    return by_kecamatan


def _by_company(by_company: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "company": name,
            "enrolled": as_int(as_mapping(row).get("enrolled")),
            "slots": as_int(as_mapping(row).get("slots")),
            "slots_used": as_int(as_mapping(row).get("slots_used")),
            "budget_idr": as_int(as_mapping(row).get("budget_idr")),
            "budget_used_idr": as_int(as_mapping(row).get("budget_used_idr")),
        }
        for name, row in sorted(by_company.items())
    ]


def _by_occupation(registry: Mapping[str, Any], sponsorship: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Most enrolled first, then most registered, then by name."""
    spons_occ = as_mapping(sponsorship.get("by_occupation"))
    registered_occ = as_mapping(registry.get("registered_by_occupation"))
    by_occupation: list[dict[str, Any]] = [
        {
            "occupation": name,
            "registered": as_int(registered_occ.get(name)),
            "enrolled": as_int(as_mapping(spons_occ.get(name)).get("enrolled")),
            "waitlisted": as_int(as_mapping(spons_occ.get(name)).get("waitlisted")),
        }
        for name in sorted(set(spons_occ) | set(registered_occ))
    ]
    by_occupation.sort(key=lambda r: (-r["enrolled"], -r["registered"], r["occupation"]))
    return by_occupation


def _notifications(notifications: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "queued": as_int(notifications.get("queued")),
        "sent": as_int(notifications.get("sent")),
        "delivered": as_int(notifications.get("delivered")),
        "failed": as_int(notifications.get("failed")),
        "sms_segments": as_int(notifications.get("sms_segments")),
        "by_template": {
            k: as_int(v) for k, v in sorted(as_mapping(notifications.get("by_template")).items())
        },
        "by_channel": {k: as_int(v) for k, v in sorted(as_mapping(notifications.get("by_channel")).items())},
    }
