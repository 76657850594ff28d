"""Wiring of the sponsorship service."""

from datetime import date
from pathlib import Path

from faststream.asgi import AsgiFastStream

from services.sponsorship import api, contributions
from services.sponsorship.coverage import coverage_gauges, coverage_job
from services.sponsorship.handlers import SponsorshipHandlers
from services.sponsorship.jobs import invoices_job, reminders_job
from services.sponsorship.repository import PgSponsorshipStore, SponsorshipStore
from services.sponsorship.settings import SponsorshipSettings
from shared import clock, contracts
from shared.calendar import Month, day_starts_at
from shared.runtime import ServiceRuntime

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: SponsorshipSettings | None = None) -> AsgiFastStream:
    settings = settings or SponsorshipSettings()
    # Typed by the protocol: the handlers see a SponsorshipStore, whichever implementation it is.
    runtime = ServiceRuntime[SponsorshipStore]("sponsorship", settings, MIGRATIONS, store=PgSponsorshipStore)
    handlers = SponsorshipHandlers(settings)
    runtime.subscribe(contracts.COMMITMENT_SUBMITTED, handlers.on_commitment_submitted)
    runtime.subscribe(contracts.WORKER_REGISTERED, handlers.on_worker_registered)
    runtime.subscribe(contracts.WORKER_FUNDED_ELSEWHERE, handlers.on_worker_funded_elsewhere)
    runtime.subscribe(contracts.ENROLLMENT_CONFIRMED, handlers.on_enrollment_confirmed)
    runtime.subscribe(contracts.ENROLLMENT_REJECTED, handlers.on_enrollment_rejected)
    runtime.subscribe(contracts.PAYMENT_SUBMITTED, handlers.on_payment_submitted)
    runtime.subscribe(contracts.COMMITMENT_EXTENSION_SUBMITTED, handlers.on_commitment_extension_submitted)
    start = (
        Month.parse(settings.invoices_from) if settings.invoices_from else Month.of(clock.programme_today())
    )
    runtime.schedule(invoices_job(start, settings.topic_prefix))
    runtime.subscribe(contracts.CONTRIBUTION_CONFIRMED, handlers.on_contribution_confirmed)
    # From today's start: no catch-up needed, each run re-sends whatever is overdue at its moment.
    runtime.schedule(
        contributions.resend_job(
            day_starts_at(clock.programme_today()), settings.topic_prefix, settings.confirmation_resend_days
        )
    )
    first_day = (
        date.fromisoformat(settings.coverage_from) if settings.coverage_from else clock.programme_today()
    )
    runtime.schedule(coverage_job(first_day, settings.topic_prefix, handlers))
    runtime.gauges(coverage_gauges)
    runtime.schedule(reminders_job(start, settings.topic_prefix, settings.reminder_rules()))
    api.register(runtime, settings)
    return runtime.asgi_app()
