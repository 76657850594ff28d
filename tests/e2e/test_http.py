"""Each service's HTTP side: health, readiness, Prometheus metrics, and read endpoints that
return personal data only to an operator with the token."""

import asyncio
import json
import re
import urllib.error
import urllib.request
from typing import Any

from deploy.stack import Stack
from shared import contracts
from testkit.infra import Infra
from testkit.kafka import record_events, submit_registrations
from testkit.samples import sample_registration
from tests.support import truncate_schema

TOKEN = "test-operator-token"


def get(port: int, path: str, token: str | None = TOKEN) -> tuple[int, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read().decode()
            return response.status, json.loads(body) if body.startswith(("{", "[")) else body
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


async def test_health_metrics_and_operator_endpoints(infra: Infra, topic_prefix: str) -> None:
    p = topic_prefix
    await truncate_schema(infra, "registry")
    registration = sample_registration(5, source="http-test", run=555)
    env = {
        "TOPIC_PREFIX": p,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "REGISTRY_DATABASE_URL": infra.database_urls["registry"],
        "MUBA_OPERATOR_TOKEN": TOKEN,
    }
    with Stack(env=env) as stack:
        registry = stack.start("registry")
        await asyncio.to_thread(stack.wait_ready)
        async with record_events(infra.kafka, p + contracts.WORKER_REGISTERED.topic) as rec:
            await submit_registrations(infra.kafka, p, [registration])
            await rec.wait_for(1)
        port = registry.port

        assert get(port, "/healthz", None) == (200, {"status": "up", "service": "registry"})
        status, ready = get(port, "/readyz", None)
        assert status == 200 and ready["broker"] is True and ready["database"] is True

        # The AsyncAPI pages want a token too; FastStream's try-it route (it published) is gone.
        assert get(port, "/docs/asyncapi", None)[0] == 401
        status, page = get(port, "/docs/asyncapi")
        assert status == 200 and "asyncapi/try" not in page

        assert get(port, f"/api/workers?nik={registration['nik']}", None)[0] == 401
        assert get(port, f"/api/workers?nik={registration['nik']}", "wrong-token")[0] == 401
        status, worker = get(port, f"/api/workers?nik={registration['nik']}")
        assert status == 200
        assert worker["nik_masked"] != registration["nik"] and worker["nik_masked"].endswith(
            registration["nik"][-2:]
        )
        assert "*" in worker["phone_masked"] and worker["full_name"] == registration["full_name"]
        assert get(port, "/api/workers?nik=1606010101900001")[0] == 404
        assert get(port, "/api/workers?nik=123")[0] == 400
        assert get(port, "/api/submissions?source=http-test") == (
            200,
            {"source": "http-test", "submission_ids": [registration["submission_id"]]},
        )

        status, metrics = get(port, "/metrics", None)
        assert status == 200
        consumed = re.search(
            r'muba_messages_consumed_total\{consumer="[^"]*",outcome="processed",'
            r'topic="registry.registration-submitted.v1"\} (\d+)',
            metrics,
        )
        assert consumed and int(consumed.group(1)) == 1, metrics
        assert re.search(r"muba_handler_batch_seconds_count\{[^}]*\} [1-9]", metrics)
        assert re.search(r"^muba_outbox_backlog \d", metrics, re.M) and "muba_ready 1.0" in metrics
        assert f'muba_messages_published_total{{topic="{p}registry.worker-registered.v1"}} 1.0' in metrics
        lags = re.findall(
            r'muba_consumer_lag\{[^}]*topic="[^"]*registration-submitted[^"]*"\} (\S+)', metrics
        )
        assert lags and all(float(lag) == 0 for lag in lags), metrics
        assert re.search(r"muba_consumer_assigned_partitions\{[^}]*\} [1-9]", metrics)
