"""Connecting to Temporal the way every prsaga process does, and preparing a namespace for it."""

from __future__ import annotations

from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from prsaga.runtime.config import Settings
from prsaga.runtime.telemetry import client_interceptors, process_runtime
from prsaga.schema.search_attributes import SEARCH_ATTRIBUTES


async def connect(settings: Settings) -> Client:
    """A Temporal client with the pydantic data converter every prsaga process uses, on the
    process's runtime (Prometheus metrics at ``metrics_address``) and traced when ``tracing``
    is on; workers built on it inherit both."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        runtime=process_runtime(settings),
        interceptors=client_interceptors(settings),
        api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
        tls=settings.temporal_tls or settings.temporal_api_key is not None,
    )


async def register_search_attributes(client: Client) -> list[str]:
    """Register prsaga's search attributes in the client's namespace (idempotent); the names
    added."""
    namespace = client.namespace
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        registered = set(existing.custom_attributes)
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        registered = set()  # the time-skipping test server only implements adding them
    missing = {name: kind for name, kind in SEARCH_ATTRIBUTES.items() if name not in registered}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)
