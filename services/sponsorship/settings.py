import re
from pathlib import Path
from typing import Final

from pydantic import Field, field_validator

from services.sponsorship.domain.feed import FeedKey
from services.sponsorship.domain.invoices import reminder_rules
from shared.calendar import ReminderRule
from shared.http_access import AccessConfigError
from shared.kafka_security import secrets_dir
from shared.settings import ServiceSettings, read_key_file

FEED_KEY_FILE: Final = Path("sponsorship") / "feed-key"


class FeedKeyError(AccessConfigError):
    """The feed key is missing or unusable: sponsorship must not start (its feed events would
    name workers by pseudonyms that change, or not at all). `python -m services.sponsorship`
    then exits 1 saying why (shared/runner.py)."""


def load_feed_key(feed_key_file: str | None) -> FeedKey:
    if feed_key_file:
        path, setting = Path(feed_key_file), "SPONSORSHIP_FEED_KEY_FILE"
    else:
        path, setting = secrets_dir() / FEED_KEY_FILE, "MUBA_SECRETS_DIR/sponsorship/feed-key"
    secret = read_key_file(
        path, setting, FeedKeyError, "a new key gives every worker a new pseudonym on the feed"
    )
    try:
        return FeedKey(secret)
    except ValueError as exc:
        raise FeedKeyError(f"{setting}: {exc}") from None


class SponsorshipSettings(ServiceSettings):
    # SPONSORSHIP_DATABASE_URL, or its parts SPONSORSHIP_DB_HOST/_PORT/_NAME/_USER/_PASSWORD(_FILE).
    database_env_prefix = "SPONSORSHIP"
    database_url: str = Field(
        "postgresql://sponsorship:sponsorship@127.0.0.1:5432/muba",
        validation_alias="SPONSORSHIP_DATABASE_URL",
    )
    http_port: int = Field(8002, validation_alias="SPONSORSHIP_HTTP_PORT")
    # Whether the PP 50/2025 discount applies to company-paid (CSR) members. The regulation excludes
    # only members paid from APBN/APBD and BPJS applies it itself, so it does by default; the office
    # may switch it off (SPONSORSHIP_APPLY_DISCOUNT=false) after hearing from the KC Musi Banyuasin
    # dan Banyuasin branch. Off, budgets and reservations are priced at the full contribution.
    apply_discount_to_company_paid: bool = Field(True, validation_alias="SPONSORSHIP_APPLY_DISCOUNT")
    # The first month the scheduled job "invoices" issues (YYYY-MM): no month before it is ever
    # invoiced by the job, so catch-up after downtime starts no earlier. Unset: the programme
    # clock's month when the service starts (a first start invoices from that month on; later
    # starts catch up from the last recorded run).
    invoices_from: str | None = Field(None, validation_alias="SPONSORSHIP_INVOICES_FROM")
    # Programme days after which a paid month BPJS has not confirmed is sent again: by the daily
    # job "contribution-resend" (counted from its last sending) and, by default, by
    # PUT /api/reconciliation (counted from its payment).
    confirmation_resend_days: int = Field(
        3, ge=1, le=366, validation_alias="SPONSORSHIP_CONFIRMATION_RESEND_DAYS"
    )
    # The first day (YYYY-MM-DD) the daily coverage job (lapses, period ends, notices, numbers)
    # runs for; unset: the programme clock's day when the service starts. Catch-up after downtime
    # starts from the last recorded day.
    coverage_from: str | None = Field(None, validation_alias="SPONSORSHIP_COVERAGE_FROM")
    # Invoice reminders (the scheduled job "invoice-reminders", at 08:00 WIB each day): `due_soon`
    # these many working days before an unpaid invoice's due date, `overdue` these many after it
    # (comma-separated whole numbers, each at least 1). Each reminder goes out once, while unpaid.
    reminder_days_before: str = Field("3", validation_alias="SPONSORSHIP_REMINDER_DAYS_BEFORE")
    reminder_days_after: str = Field("1,7", validation_alias="SPONSORSHIP_REMINDER_DAYS_AFTER")
    # The key of the public feed's worker pseudonyms (services/sponsorship/domain/feed.py); empty:
    # $MUBA_SECRETS_DIR/sponsorship/feed-key, which `make infra-up` and deploy/compose/secrets.sh make.
    feed_key_file: str | None = Field(None, validation_alias="SPONSORSHIP_FEED_KEY_FILE")

    def feed_key(self) -> FeedKey:
        return load_feed_key(self.feed_key_file)

    @field_validator("reminder_days_before", "reminder_days_after")
    @classmethod
    def _days_list(cls, value: str) -> str:
        reminder_rules(parse_days(value), ())  # refused at start, not on the first run
        return value

    def reminder_rules(self) -> tuple[ReminderRule, ...]:
        return reminder_rules(parse_days(self.reminder_days_before), parse_days(self.reminder_days_after))


def parse_days(text: str) -> tuple[int, ...]:
    """'1,7' -> (1, 7); empty: none. ValueError for anything but whole numbers."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not all(re.fullmatch(r"\d{1,3}", p) for p in parts):
        raise ValueError(f"reminder days are comma-separated whole numbers, got {text!r}")
    return tuple(int(p) for p in parts)
