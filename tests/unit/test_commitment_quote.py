"""GET /api/commitment-quote (services/sponsorship/api.py): the budget the `muba` CLI shows is the
one sponsorship gives a commitment accepted today, by its tariffs and discount setting."""

import asyncio
from typing import Any

import pytest

from services.sponsorship import api
from services.sponsorship.domain import Pricing, TariffTable, commitment_budget, validate_commitment
from services.sponsorship.repository import default_tariff_table
from shared import clock
from shared.http_access import ApiParams, Caller, Role
from shared.runtime import BadRequest

OFFICE = Caller("office", Role.OFFICE)


async def stored(conn: object) -> TariffTable:
    return default_tariff_table()  # what an empty database stores first


def ask(apply_discount: bool, **params: str) -> dict[str, Any]:
    quote = api.commitment_quote(apply_discount, stored)
    return asyncio.run(quote(None, ApiParams(params, OFFICE)))  # type: ignore[arg-type]  # no database


@pytest.mark.parametrize("apply_discount", [False, True])
@pytest.mark.parametrize(("package", "months", "slots"), [("JKK_JKM", 12, 20), ("jkk_jkm_jht", 60, 3)])
def test_the_quote_is_the_budget_of_the_accepted_commitment(
    apply_discount: bool, package: str, months: int, slots: int
) -> None:
    answer = ask(apply_discount, package=package, months=str(months), slots=str(slots))
    commitment = validate_commitment(
        {
            "commitment_id": "c", "company_id": "pt", "company_name": "PT", "kecamatan": ["*"],
            "slots": slots, "months": months, "package": package, "email": "csr@pt.example",
        }
    )  # fmt: skip
    assert not isinstance(commitment, list)
    today = clock.today_in_jakarta()
    pricing = Pricing(default_tariff_table(), today, apply_discount)
    assert answer["budget_idr"] == commitment_budget(commitment, pricing)
    assert answer["budget_idr"] == answer["per_worker_idr"] * slots
    assert answer["discount_applied"] is apply_discount and answer["package"] == package.upper()


@pytest.mark.parametrize(
    "params",
    [
        {"package": "JKN", "months": "12", "slots": "1"},
        {"package": "JKK_JKM", "months": "61", "slots": "1"},
        {"package": "JKK_JKM", "months": "12", "slots": "100001"},
        {"package": "JKK_JKM", "months": "x", "slots": "1"},
        {"package": "JKK_JKM", "slots": "1"},
    ],
)
def test_a_quote_outside_the_contract_is_a_bad_request(params: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        ask(False, **params)
