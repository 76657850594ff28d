"""The AsyncAPI pages of a running service: the registry, on a real HTTP server against the real
Kafka and PostgreSQL, serves at /docs/asyncapi.json and .yaml exactly the bytes of
docs/asyncapi/registry.*, and at /docs/asyncapi a page that needs nothing from outside the service
(no CDN: it renders on an office network without internet), behind the docs' token gate."""

import asyncio
import http.client
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import uvicorn

from services.registry.app import create_app
from services.registry.settings import RegistrySettings
from testkit.infra import Infra, unique_prefix
from tests.contracts import page_check
from tests.support import truncate_schema

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "docs" / "asyncapi"

OFFICE = "live-docs-office-" + "5a" * 12
AUDITOR = "live-docs-audit-" + "c3" * 12
COMPANY = "live-docs-medco-" + "7e" * 12
TOKENS_FILE = f"""# name   role            token
auditor   auditor         {AUDITOR}
medco     company:medco   {COMPANY}
"""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _get(port: int, path: str, token: str | None, method: str = "GET") -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


async def get(port: int, path: str, token: str | None = OFFICE, method: str = "GET") -> Answer:
    return await asyncio.to_thread(_get, port, path, token, method)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
async def registry_port(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[int]:
    await truncate_schema(infra, "registry")
    tokens = tmp_path_factory.mktemp("secrets") / "api-tokens"
    tokens.write_text(TOKENS_FILE)
    app = create_app(
        RegistrySettings(
            database_url=infra.database_urls["registry"],
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            topic_prefix=unique_prefix(),
            operator_token=OFFICE,
            api_tokens_file=str(tokens),
            http_host="127.0.0.1",
        )
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    while not server.started:
        if task.done():
            task.result()
            raise AssertionError("the registry stopped while starting")
        assert loop.time() < deadline, "the registry did not start"
        await asyncio.sleep(0.1)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


@pytest.mark.parametrize(
    ("path", "published", "content_type"),
    [
        ("/docs/asyncapi.json", "registry.json", "application/json"),
        ("/docs/asyncapi.yaml", "registry.yaml", "application/yaml"),
    ],
)
async def test_the_live_document_is_the_published_one(
    registry_port: int, path: str, published: str, content_type: str
) -> None:
    answer = await get(registry_port, path)
    assert answer.status == 200, answer.body[:300]
    assert answer.headers["content-type"] == content_type
    assert answer.body == (PUBLISHED / published).read_bytes(), (
        f"{path} differs from docs/asyncapi/{published}"
    )


async def test_the_page_renders_the_document_with_nothing_from_outside(registry_port: int) -> None:
    page = await get(registry_port, "/docs/asyncapi", AUDITOR)
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    text = page.body.decode("utf-8")
    document = json.loads((PUBLISHED / "registry.json").read_text(encoding="utf-8"))
    assert page_check.problems(text, document) == []
    # The browser is told so too: nothing but the page's own inline style may load.
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    # Its links to the document resolve, on the same service, to the published bytes.
    here = f"http://127.0.0.1:{registry_port}/docs/asyncapi"
    linked = [u for u in page_check.parse(text).urls if not u.startswith("#")]
    assert sorted(linked) == ["asyncapi.json", "asyncapi.yaml"]
    for url in linked:
        target = urlsplit(urljoin(here, url))
        assert target.netloc == f"127.0.0.1:{registry_port}"
        answer = await get(registry_port, target.path, AUDITOR)
        assert (
            answer.status == 200
            and answer.body == (PUBLISHED / f"registry.{url.rsplit('.', 1)[1]}").read_bytes()
        )


@pytest.mark.parametrize("path", ["/docs/asyncapi", "/docs/asyncapi.json", "/docs/asyncapi.yaml"])
async def test_the_docs_keep_their_gate(registry_port: int, path: str) -> None:
    """As before: office and auditor tokens only (shared.http_access.DOCS_ROLES)."""
    assert (await get(registry_port, path, None)).status == 401
    assert (await get(registry_port, path, "forged-" + OFFICE)).status == 401
    assert (await get(registry_port, path, COMPANY)).status == 403
    assert (await get(registry_port, path, AUDITOR)).status == 200
    assert (await get(registry_port, path, OFFICE)).status == 200


async def test_nothing_is_mounted_to_try_it_out(registry_port: int) -> None:
    assert (await get(registry_port, "/docs/asyncapi/try", OFFICE, method="POST")).status == 405
    assert (await get(registry_port, "/docs/asyncapi/try", OFFICE)).status == 404
