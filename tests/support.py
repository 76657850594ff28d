"""Helpers the service and end-to-end tests share."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream.asgi import AsgiFastStream

from shared.testing import Infra, empty_schema


@asynccontextmanager
async def running(app: AsgiFastStream) -> AsyncIterator[AsgiFastStream]:
    """Run the app (lifespan + broker) in a task of its own: anyio's scopes must be entered and
    left by the same task, and pytest-asyncio tears fixtures down from another one."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def serve() -> None:
        async with app.start_lifespan_context():
            started.set()
            await stop.wait()

    task = asyncio.create_task(serve())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()
    try:
        yield app
    finally:
        stop.set()
        await task


async def truncate_schema(infra: Infra, service: str) -> None:
    """Service tests start from an empty schema (the tables are the service's, kept by migrations)."""
    await empty_schema(infra.database_urls[service])
