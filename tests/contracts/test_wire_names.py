"""The wire names partners and subscribers depend on, written out literally on purpose: every other
test derives them from shared/contracts.py, so a change to the registry that renames a topic or
an event type (and so breaks every client generated from the published AsyncAPI) fails here."""

from shared import contracts, topics

PUBLISHED = {
    # topic: CloudEvents type
    "registry.registration-submitted.v1": "id.go.mubakab.disnaker.registration-submitted.v1",
    "sponsorship.commitment-submitted.v1": "id.go.mubakab.disnaker.commitment-submitted.v1",
    "registry.worker-registered.v1": "id.go.mubakab.disnaker.worker-registered.v1",
    "registry.registration-rejected.v1": "id.go.mubakab.disnaker.registration-rejected.v1",
    "registry.worker-funded-elsewhere.v1": "id.go.mubakab.disnaker.worker-funded-elsewhere.v1",
    "sponsorship.commitment-accepted.v1": "id.go.mubakab.disnaker.commitment-accepted.v1",
    "sponsorship.commitment-rejected.v1": "id.go.mubakab.disnaker.commitment-rejected.v1",
    "sponsorship.sponsor-matched.v1": "id.go.mubakab.disnaker.sponsor-matched.v1",
    "sponsorship.worker-waitlisted.v1": "id.go.mubakab.disnaker.worker-waitlisted.v1",
    "bpjs.enrollment-requested.v1": "id.go.mubakab.disnaker.enrollment-requested.v1",
    "bpjs.enrollment-confirmed.v1": "id.go.mubakab.disnaker.enrollment-confirmed.v1",
    "bpjs.enrollment-rejected.v1": "id.go.mubakab.disnaker.enrollment-rejected.v1",
    "sponsorship.enrollment-completed.v1": "id.go.mubakab.disnaker.enrollment-completed.v1",
    "sponsorship.enrollment-failed.v1": "id.go.mubakab.disnaker.enrollment-failed.v1",
    "sponsorship.invoice-issued.v1": "id.go.mubakab.disnaker.invoice-issued.v1",
    "sponsorship.payment-submitted.v1": "id.go.mubakab.disnaker.payment-submitted.v1",
    "sponsorship.payment-recorded.v1": "id.go.mubakab.disnaker.payment-recorded.v1",
    "sponsorship.payment-rejected.v1": "id.go.mubakab.disnaker.payment-rejected.v1",
    "bpjs.contribution-paid.v1": "id.go.mubakab.disnaker.contribution-paid.v1",
    "bpjs.contribution-confirmed.v1": "id.go.mubakab.disnaker.contribution-confirmed.v1",
    "sponsorship.invoice-reminder.v1": "id.go.mubakab.disnaker.invoice-reminder.v1",
    "sponsorship.commitment-extension-submitted.v1": "id.go.mubakab.disnaker.commitment-extension-submitted.v1",
    "sponsorship.commitment-extended.v1": "id.go.mubakab.disnaker.commitment-extended.v1",
    "sponsorship.commitment-extension-rejected.v1": "id.go.mubakab.disnaker.commitment-extension-rejected.v1",
    "sponsorship.coverage-ending.v1": "id.go.mubakab.disnaker.coverage-ending.v1",
    "sponsorship.coverage-extended.v1": "id.go.mubakab.disnaker.coverage-extended.v1",
    "sponsorship.coverage-ended.v1": "id.go.mubakab.disnaker.coverage-ended.v1",
    "sponsorship.coverage-reported.v1": "id.go.mubakab.disnaker.coverage-reported.v1",
    "notifications.notification-sent.v1": "id.go.mubakab.disnaker.notification-sent.v1",
    "notifications.notification-sent.v2": "id.go.mubakab.disnaker.notification-sent.v2",
    "notifications.notification-delivered.v1": "id.go.mubakab.disnaker.notification-delivered.v1",
    "notifications.notification-failed.v1": "id.go.mubakab.disnaker.notification-failed.v1",
    # The public feed: its types name the area (the outcomes' names are taken by the internal ones).
    "feed.worker-enrolled.v1": "id.go.mubakab.disnaker.feed.worker-enrolled.v1",
    "feed.worker-waitlisted.v1": "id.go.mubakab.disnaker.feed.worker-waitlisted.v1",
    "feed.coverage-ended.v1": "id.go.mubakab.disnaker.feed.coverage-ended.v1",
}


def test_the_wire_names_are_the_published_ones() -> None:
    assert {c.topic: c.event_type for c in contracts.CONTRACTS} == PUBLISHED


def test_a_partners_intake_and_the_dead_letter_topics_keep_their_names() -> None:
    assert topics.intake_topic("desa-online") == "registry.registration-submitted.v1.desa-online"
    assert topics.dead_letter_topic("registry.worker-registered.v1") == "registry.worker-registered.v1.dlq"
