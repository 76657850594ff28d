"""Matching workers to commitments: which commitment sponsors a worker, and the waitlist's order.

No I/O here. Costs come priced by the tariffs (`offers_for`), never computed here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import TypeAlias

from services.sponsorship.domain.tariffs import Coverage, Pricing, occupation_words
from shared.events.sponsorship import Package


@dataclass(frozen=True)
class OpenCommitment:
    commitment_id: str
    kecamatan_codes: frozenset[str]
    whole_regency: bool
    slots: int
    slots_used: int
    budget_idr: int
    budget_used_idr: int
    preferred_occupations: tuple[str, ...]
    created_seq: int  # lower = older
    package: Package
    months: int


@dataclass(frozen=True)
class WorkerToMatch:
    """A worker looking for a sponsor: what matching and the worker's coverage cost depend on."""

    worker_id: str
    kecamatan_code: str
    occupation: str
    declared_income_idr: int | None = None


@dataclass(frozen=True)
class Offer:
    """A commitment that could sponsor a worker, and what the worker's coverage would cost it."""

    commitment: OpenCommitment
    coverage: Coverage

    @property
    def cost_idr(self) -> int:
        return self.coverage.total_contribution_idr


def offers_for(worker: WorkerToMatch, commitments: Iterable[OpenCommitment], pricing: Pricing) -> list[Offer]:
    """The commitments covering the worker's kecamatan, each with the worker's coverage priced
    under its package and months: once per package and months, however many sponsors offer them
    (at a million workers, eleven commitments priced one by one made matching 8 times dearer)."""
    priced: dict[tuple[Package, int], Coverage] = {}
    offers = []
    for c in commitments:
        if not covers(c, worker.kecamatan_code):
            continue
        coverage = priced.get((c.package, c.months))
        if coverage is None:
            coverage = pricing.coverage(c.package, c.months, worker.declared_income_idr, worker.occupation)
            priced[(c.package, c.months)] = coverage
        offers.append(Offer(c, coverage))
    return offers


WaitlistPosition: TypeAlias = tuple[int, datetime, int]


def waitlist_position(registration_seq: int | None, registered_at: datetime, seq: int) -> WaitlistPosition:
    """Where a waiting worker stands in the waitlist: lower is served first. Total and deterministic.

    1. The registry's `registration_seq` (its database's order of registration, whichever
       instance registered the worker). A worker announced without one (by a registry from before
       the number existed, e.g. an old event replayed) counts as 0: registered before every
       numbered worker.
    2. `registered_at`, a host's clock: it only decides among workers without a number.
    3. `seq`, the order the worker's announcement arrived here (unique), so no two workers tie.

    This is the waitlist's only order: the store hands out the waitlist in pages sorted by it
    (`SponsorshipStore.waitlisted_covered_by`, the index `worker_waitlist`), and nothing re-sorts
    a page.
    """
    return (registration_seq or 0, registered_at, seq)


def covers(c: OpenCommitment, kecamatan_code: str) -> bool:
    return c.whole_regency or kecamatan_code in c.kecamatan_codes


def prefers_occupation(c: OpenCommitment, occupation: str) -> bool:
    """True when a preferred entry equals the occupation or is a whole-word phrase inside it.

    So "karet" prefers "penyadap karet", but "penyadap karet" does not prefer a plain "karet"
    (a narrow preference is not widened to general occupations), and "tani" does not match "petani".
    """
    words = occupation_words(occupation)
    for preferred in c.preferred_occupations:
        wanted = occupation_words(preferred)
        if not wanted:
            continue
        n = len(wanted)
        if any(words[i : i + n] == wanted for i in range(len(words) - n + 1)):
            return True
    return False


def has_room(c: OpenCommitment, cost_idr: int) -> bool:
    return c.slots_used < c.slots and c.budget_idr - c.budget_used_idr >= cost_idr


def choose_commitment(worker: WorkerToMatch, offers: Sequence[Offer]) -> Offer | None:
    """Pick the offer that sponsors `worker`, or None when none fits.

    Eligible: covers the worker's kecamatan, has a free slot and enough budget left for the
    offer's cost (`offers_for`). Among those, in order: preferred occupation first; naming the
    kecamatan before whole-regency; lowest share of slots used (exact fractions); oldest
    (created_seq); finally commitment_id, so the choice is deterministic.
    """
    eligible = [
        o
        for o in offers
        if covers(o.commitment, worker.kecamatan_code) and has_room(o.commitment, o.cost_idr)
    ]
    if not eligible:
        return None

    def rank(offer: Offer) -> tuple[bool, bool, Fraction, int, str]:
        c = offer.commitment
        return (
            not prefers_occupation(c, worker.occupation),
            worker.kecamatan_code not in c.kecamatan_codes,
            Fraction(c.slots_used, c.slots),
            c.created_seq,
            c.commitment_id,
        )

    return min(eligible, key=rank)
