# --- The worker's shared cache of parsed diffs and plans: one load per key, bounded ---
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.parse import ParsedDiffs
from prsaga.adapters.diffstore import DiffStore, SharedCache
from prsaga.runtime.config import Settings
from tests.git_diff import parsed_pull_request


def test_concurrent_requests_for_one_key_share_a_single_load():
    cache: SharedCache[list[int]] = SharedCache(size=2)
    loads = []
    gate = threading.Event()

    def load() -> list[int]:
        loads.append(1)
        gate.wait(5)
        return [1, 2, 3]

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(cache.get, "pr-1", load) for _ in range(8)]
        time.sleep(0.1)  # every thread is now waiting on the one load
        gate.set()
        values = [f.result() for f in futures]
    assert len(loads) == 1
    assert all(v is values[0] for v in values)


def test_the_least_recently_used_value_is_evicted():
    cache: SharedCache[str] = SharedCache(size=2)
    cache.get("a", lambda: "A")
    cache.get("b", lambda: "B")
    cache.get("a", lambda: "not reloaded")  # "a" is now the most recent
    cache.put("c", "C")  # evicts "b"
    assert cache.get("a", lambda: "reloaded") == "A"
    assert cache.get("b", lambda: "B again") == "B again"


def test_a_failed_load_is_not_cached():
    cache: SharedCache[str] = SharedCache(size=2)

    def failing() -> str:
        raise RuntimeError("GitHub is down")

    try:
        cache.get("k", failing)
    except RuntimeError:
        pass
    assert cache.get("k", lambda: "ok") == "ok"


def test_each_workers_parsed_diffs_keep_their_own_memory_over_the_store(tmp_path: Path):
    """The cache is the ParsedDiffs object's (the worker builds one for its agents), not the
    process's: a diff saved through one is served from its memory, even once the store lost it;
    another ParsedDiffs only has the store."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        state_dir=tmp_path,
        github_token=None,
        github_app_id=None,
    )
    diffs, other = ParsedDiffs(settings), ParsedDiffs(settings)
    parsed = parsed_pull_request()
    diffs.save(parsed)

    assert other.load(parsed.ref) == parsed  # from the store
    DiffStore(settings.blob_dir).path_for(parsed.ref).unlink()
    assert diffs.load(parsed.ref) is parsed  # from memory
    with pytest.raises(ApplicationError) as refused:  # neither memory nor store: GitHub then
        ParsedDiffs(settings).load(parsed.ref)
    assert refused.value.type == "GitHubNotConfigured"


class Blob:
    """A value that knows its size, like a parsed diff."""

    def __init__(self, size: int) -> None:
        self.size = size

    def approx_bytes(self) -> int:
        return self.size


def test_the_cache_is_bounded_by_total_size_not_only_by_count():
    cache: SharedCache[Blob] = SharedCache(size=100, max_bytes=1_000)
    for key in range(10):
        cache.put(f"small-{key}", Blob(50))
    assert cache.total_bytes == 500
    cache.put("large", Blob(800))  # evicts the oldest small ones until the total fits
    assert cache.total_bytes <= 1_000
    assert cache.get("large", lambda: Blob(0)).size == 800
    assert cache.get("small-9", lambda: Blob(0)).size == 50
    assert cache.get("small-0", lambda: Blob(0)).size == 0  # evicted, so loaded again


def test_a_value_larger_than_the_budget_is_kept_alone():
    cache: SharedCache[Blob] = SharedCache(size=100, max_bytes=1_000)
    cache.put("small", Blob(10))
    huge = cache.get("huge", lambda: Blob(5_000))
    assert cache.total_bytes == 5_000
    assert cache.get("huge", lambda: Blob(0)) is huge
    cache.put("next", Blob(10))  # the huge one goes as soon as something newer arrives
    assert cache.total_bytes == 10


def test_replacing_a_key_does_not_count_it_twice():
    cache: SharedCache[Blob] = SharedCache(size=100, max_bytes=1_000)
    cache.put("k", Blob(600))
    cache.put("k", Blob(600))
    assert cache.total_bytes == 600
    assert cache.get("k", lambda: Blob(0)).size == 600
