"""The registry's subscribers: parse, validate (domain), store (repository) and publish (outbox)."""

from datetime import datetime

from services.registry.domain.funders import NikKey, already_funded
from services.registry.domain.registration import Registration, normalise_phone, validate_from_intake
from services.registry.repository import RegisteredWorker, RegistryStore
from services.registry.settings import RegistrySettings
from shared import clock
from shared.consumer import MessageContext
from shared.events.registry import (
    RegistrationRejected,
    RegistrationSubmitted,
    RegistrationWarning,
    WorkerRegistered,
)
from shared.kecamatan import kecamatan_name, resolve_kecamatan
from shared.validation import (
    DUPLICATE_NIK,
    MAX_REGISTRATION_TEXT,
    Reason,
    one_line_text_or_none,
    rejection_reasons,
)

Store = RegistryStore
Ctx = MessageContext[RegistrationSubmitted, Store]


def _text_or_none(value: object) -> str | None:
    """A partner's id as we may store and repeat it; anything else is no id (the validator says why)."""
    return one_line_text_or_none(value, MAX_REGISTRATION_TEXT)


class RegistryHandlers:
    def __init__(self, settings: RegistrySettings, nik_key: NikKey | None = None) -> None:
        self.settings = settings
        # The funder lists' key: read at start, so that a registry without it does not start.
        self.nik_key = nik_key or settings.nik_key()
        clock.check_skew()

    async def on_registration_submitted(self, ctx: Ctx) -> None:
        """A partner system's registration, on that partner's intake topic: register the worker
        once, or say every reason why not. The source is the partner the topic belongs to."""
        partner = ctx.incoming.partner
        if partner is None:
            raise ValueError(f"{ctx.incoming.topic} is no partner's intake topic")
        raw = ctx.json_object()
        source, submission_id = partner, _text_or_none(raw.get("submission_id"))
        submission = await ctx.store.claim_submission(source, submission_id, ctx.incoming.event_id)
        if submission is None:
            return  # the same submission again: nothing changes, nothing is published
        today = clock.today_in_jakarta()
        result = validate_from_intake(
            raw, partner, today=today, min_age=self.settings.min_age, max_age=self.settings.max_age
        )
        if isinstance(result, list):
            await self._reject(ctx, submission, source, submission_id, result, raw)
            return
        # Already paid for by another funder (the office's lists): one look-up by keyed hash.
        funding = await ctx.store.funder_of(self.nik_key.digest(result.nik))
        if funding is not None:
            await self._reject(ctx, submission, source, submission_id, [already_funded(funding)], raw, result)
            return
        registered_at = clock.now()
        worker = await ctx.store.register_worker(result, registered_at)
        if worker is None:
            duplicate = Reason("nik", DUPLICATE_NIK, "NIK ini sudah terdaftar dalam program.")
            await self._reject(ctx, submission, source, submission_id, [duplicate], raw, result)
            return
        await ctx.store.mark_registered(submission, worker.worker_id)
        ctx.publish(_worker_registered(worker, result, registered_at))

    async def _reject(
        self,
        ctx: Ctx,
        submission: int,
        source: str | None,
        submission_id: str | None,
        reasons: list[Reason],
        raw: dict[str, object],
        valid: Registration | None = None,
    ) -> None:
        raw_kecamatan = raw.get("kecamatan")
        kecamatan = resolve_kecamatan(raw_kecamatan) if isinstance(raw_kecamatan, str) else None
        await ctx.store.mark_rejected(submission, reasons, kecamatan)
        raw_phone = raw.get("phone")
        phone = valid.phone if valid else (normalise_phone(raw_phone) if isinstance(raw_phone, str) else None)
        name = valid.full_name if valid else None
        event = RegistrationRejected(
            submission_id=submission_id,
            source=source,
            reasons=rejection_reasons(reasons),
            full_name=name,
            phone=phone,
            rejected_at=clock.now(),
        )
        ctx.publish(event)


def _worker_registered(
    worker: RegisteredWorker, r: Registration, registered_at: datetime
) -> WorkerRegistered:
    return WorkerRegistered(
        worker_id=str(worker.worker_id),
        submission_id=r.submission_id,
        source=r.source,
        nik=r.nik,
        full_name=r.full_name,
        birth_date=r.birth_date,
        sex=r.sex,
        phone=r.phone,
        kecamatan_code=r.kecamatan_code,
        kecamatan_name=kecamatan_name(r.kecamatan_code),
        desa=r.desa,
        occupation=r.occupation,
        declared_income_idr=r.declared_income_idr,
        registered_at=registered_at,
        registration_seq=worker.registration_seq,
        warnings=[RegistrationWarning(field=w.field, code=w.code, message=w.message) for w in r.warnings],
    )
