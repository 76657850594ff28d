"""A funder list imported after workers registered tells sponsorship, on the real topic: the
registry's PUT /api/funders publishes exactly one WorkerFundedElsewhere per registered worker the
list newly names (through its outbox, in the import's transaction), and none when the same list
comes again or for a worker the funder's previous list already held."""

from services.registry.domain.funders import funded_elsewhere_event_id
from shared import contracts
from testkit.kafka import record_events, submit_registrations
from testkit.samples import sample_registration
from tests.services.test_registry_funders import OFFICE, Registry, import_body, registry

__all__ = ["registry"]  # the fixture, shared with test_registry_funders.py
RUN = 823


async def test_an_import_announces_each_newly_listed_registered_worker_once(registry: Registry) -> None:
    first, second, unlisted, never_registered = (sample_registration(i, run=RUN) for i in range(4))
    await submit_registrations(registry.infra.kafka, registry.prefix, [first, second, unlisted])
    registered = {e.payload["nik"]: e.payload["worker_id"] for e in await registry.events.wait_for(3)}
    assert len(registered) == 3
    topic = registry.prefix + contracts.WORKER_FUNDED_ELSEWHERE.topic

    async with record_events(registry.infra.kafka, topic) as funded:
        answer = await registry.post(
            OFFICE, import_body(str(first["nik"]), str(never_registered["nik"]), source_code="SA")
        )
        assert answer.status_code == 200, answer.text
        imported = answer.json()
        assert (imported["already_registered"], imported["funded_elsewhere_published"]) == (1, 1)
        [event] = await funded.wait_for(1)
        assert event.payload == {
            "worker_id": registered[first["nik"]],
            "funder": "PAKE KELAMBU",
            "source_code": "SA",
            "description": "APBD Kabupaten Musi Banyuasin",
            "import_id": imported["import_id"],
            "noticed_at": event.payload["noticed_at"],
        }
        assert event.payload["noticed_at"].endswith("Z") or event.payload["noticed_at"].endswith("+00:00")
        assert event.key == registered[first["nik"]]
        assert event.headers["ce_id"] == funded_elsewhere_event_id(
            imported["import_id"], registered[first["nik"]]
        )
        assert str(first["nik"]) not in event.body.decode()

        # The same list again: nothing is published. A renewed list adding `second`: only them.
        again = (
            await registry.post(
                OFFICE, import_body(str(first["nik"]), str(never_registered["nik"]), source_code="SA")
            )
        ).json()
        assert (again["changed"], again["already_registered"], again["funded_elsewhere_published"]) == (
            False,
            1,
            0,
        )
        renewed = (
            await registry.post(OFFICE, import_body(str(first["nik"]), str(second["nik"]), source_code="SA"))
        ).json()
        assert (renewed["already_registered"], renewed["funded_elsewhere_published"]) == (2, 1)
        events = await funded.settle(2.0)
    # Two workers, two partitions maybe: no order between them.
    assert sorted((e.payload["worker_id"], e.payload["import_id"]) for e in events) == sorted(
        [(registered[first["nik"]], imported["import_id"]), (registered[second["nik"]], renewed["import_id"])]
    )
