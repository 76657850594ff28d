"""The public outcome feed (shared/events/feed.py): each outcome event made again without the
personal data, for subscribers who must not see it.

Workers are named by a pseudonym: HMAC-SHA256 of the worker id with the feed key (a secret of the
programme's, `$MUBA_SECRETS_DIR/sponsorship/feed-key`), cut to 128 bits. The same worker has the
same reference on every feed event; without the key, nobody can turn a reference into a worker id
or a worker id into a reference. Pure: no I/O.
"""

import hashlib
import hmac
from datetime import date, datetime

from shared.events.feed import FeedCoverageEnded, FeedWorkerEnrolled, FeedWorkerWaitlisted
from shared.events.sponsorship import CoverageEnded, EnrollmentCompleted

MIN_KEY_CHARS = 16


class FeedKey:
    """The feed's pseudonym key."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_KEY_CHARS:
            raise ValueError(f"the feed key is too short: at least {MIN_KEY_CHARS} characters")
        self._secret = secret

    def worker_ref(self, worker_id: str) -> str:
        """32 hex digits; the worker id in its canonical text form (a UUID, lower case)."""
        digest = hmac.new(self._secret, worker_id.strip().lower().encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def __repr__(self) -> str:
        return "FeedKey(<secret>)"


def worker_enrolled(
    key: FeedKey, completed: EnrollmentCompleted, *, kecamatan_code: str, occupation: str, months: int
) -> FeedWorkerEnrolled:
    return FeedWorkerEnrolled(
        worker_ref=key.worker_ref(completed.worker_id),
        kecamatan_code=kecamatan_code,
        kecamatan_name=completed.kecamatan_name,
        occupation=occupation,
        company_id=completed.company_id,
        company_name=completed.company_name,
        package=completed.package,
        months=months,
        coverage_start=completed.coverage_start,
        coverage_end=completed.coverage_end,
        contribution_idr=completed.contribution_idr,
        membership=completed.membership,
        enrolled_at=completed.completed_at,
    )


def worker_waitlisted(
    key: FeedKey,
    worker_id: str,
    *,
    kecamatan_code: str,
    kecamatan_name: str,
    occupation: str,
    at: datetime,
) -> FeedWorkerWaitlisted:
    return FeedWorkerWaitlisted(
        worker_ref=key.worker_ref(worker_id),
        kecamatan_code=kecamatan_code,
        kecamatan_name=kecamatan_name,
        occupation=occupation,
        waitlisted_at=at,
    )


def coverage_ended(key: FeedKey, ended: CoverageEnded, *, next_company_id: str | None) -> FeedCoverageEnded:
    next_start: date | None = ended.next_coverage_start
    return FeedCoverageEnded(
        worker_ref=key.worker_ref(ended.worker_id),
        company_id=ended.company_id,
        company_name=ended.company_name,
        reason=ended.reason,
        last_covered_day=ended.last_covered_day,
        months_unpaid=ended.months_unpaid,
        next=ended.next,
        next_company_id=next_company_id,
        next_company_name=ended.next_company_name,
        next_coverage_start=next_start,
        ended_at=ended.ended_at,
    )
