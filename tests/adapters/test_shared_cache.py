# --- The worker's shared cache of parsed diffs and plans: one load per key, bounded ---
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from prsaga.adapters.diffstore import SharedCache


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
