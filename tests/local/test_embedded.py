# --- The embedded stack of `prsaga dev`: which children start, in which order, how they are awaited
from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from prsaga.local.embedded import Endpoints, stack_services
from prsaga.runtime.config import Settings


def test_the_stack_starts_the_fakes_then_temporal_then_the_processes(tmp_path: Path):
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        state_dir=tmp_path,
        webhook_secret=SecretStr("s"),
        metrics_address="127.0.0.1:9464",
    )
    endpoints = Endpoints.from_settings(settings, local_github=True, local_llm=True)

    services = stack_services(settings, endpoints)

    assert [s.name for s in services] == ["github", "claude", "temporal", "worker", "webhook"]
    ready = {s.name: s.ready_url for s in services}
    assert ready["github"] == f"{endpoints.github_url}/_fake/state"
    assert ready["webhook"] == f"{endpoints.webhook_url}/healthz"
    assert ready["worker"] is None  # nothing to poll: it dies loudly or works
    # Only the worker serves metrics: two children cannot bind the same address.
    assert [s.name for s in services if "PRSAGA_METRICS_ADDRESS" in s.env] == ["worker"]
    assert all(s.env["PRSAGA_GITHUB_API_URL"] == endpoints.github_url for s in services)
    temporal = services[2].argv
    assert temporal[temporal.index("--db-filename") + 1] == str(
        (tmp_path / "temporal.db").resolve()
    )


def test_without_local_servers_only_temporal_and_prsagas_processes_start(tmp_path: Path):
    settings = Settings(_env_file=None, state_dir=tmp_path)  # type: ignore[call-arg]
    endpoints = Endpoints.from_settings(settings, local_github=False)

    names = [s.name for s in stack_services(settings, endpoints)]

    assert names == ["temporal", "worker", "webhook"]
