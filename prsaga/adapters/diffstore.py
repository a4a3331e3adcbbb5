"""Where parsed diffs live between activities, so that workflow history carries only a reference.

A parsed diff is immutable for a given (pull request, head SHA), so the store is a plain cache on
disk (a shared volume when workers run on several hosts): any activity that misses it rebuilds it
from GitHub (see ``activities.parse.ParsedDiffs``). Writes are atomic, so a worker killed halfway
leaves no torn file behind.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError

from prsaga.review.diff import ParsedPullRequest
from prsaga.schema import DiffRef

M = TypeVar("M", bound=BaseModel)
V = TypeVar("V")

DEFAULT_MAX_BYTES = 96 * 1024 * 1024
"""What a worker's cache of parsed diffs may hold: a 100k-line pull request is about 10 MiB in
the compact form (``prsaga.review.diff.Hunk``), so a few large ones and many small ones fit."""


@runtime_checkable
class Sized(Protocol):
    def approx_bytes(self) -> int: ...


def approx_bytes(value: object) -> int:
    """A value's own estimate of its memory, or 0 (then only the count bounds it)."""
    return value.approx_bytes() if isinstance(value, Sized) else 0


class SharedCache(Generic[V]):
    """The most recently used immutable values of a worker process, shared by its activity
    threads: a large pull request's parsed diff is loaded once per process, not once per
    activity (each copy of a 3,000-file diff costs seconds and tens of megabytes).

    Bounded by total size (``max_bytes``, as the values estimate themselves) and by count
    (``size``): several large pull requests in a row evict each other, many small ones share
    the space. The most recent value stays even when it alone is larger than ``max_bytes``.
    Concurrent requests for the same key wait for one load. Callers must not mutate values.
    """

    def __init__(self, size: int, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        self._values: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._loading: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    @property
    def total_bytes(self) -> int:
        return self._bytes

    def get(self, key: Hashable, load: Callable[[], V]) -> V:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key][0]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                if key in self._values:
                    return self._values[key][0]
            try:
                value = load()
                self.put(key, value)
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            return value

    def put(self, key: Hashable, value: V) -> None:
        weight = approx_bytes(value)  # outside the lock: it walks the value
        with self._lock:
            if key in self._values:
                self._bytes -= self._values.pop(key)[1]
            self._values[key] = (value, weight)
            self._bytes += weight
            while len(self._values) > 1 and (
                len(self._values) > self._size or self._bytes > self._max_bytes
            ):
                self._bytes -= self._values.popitem(last=False)[1][1]


class BlobStore:
    """Pydantic models on disk under string keys: the claim-check store of activities.

    Writes are atomic (a temporary file renamed into place), so a worker killed halfway leaves
    no torn file behind; an unreadable blob reads as missing and is rebuilt by its owner.
    """

    def __init__(self, root: Path) -> None:
        self._root = root

    def path_for(self, key: str) -> Path:
        return self._root / f"{key}.json"

    def load(self, key: str, model: type[M]) -> M | None:
        try:
            return model.model_validate_json(self.path_for(key).read_bytes())
        except (FileNotFoundError, ValidationError):
            return None

    def save(self, key: str, value: BaseModel) -> None:
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(value.model_dump_json().encode())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class DiffStore:
    """Parsed diffs on disk, keyed by their ``DiffRef``."""

    def __init__(self, root: Path) -> None:
        self._blobs = BlobStore(root)

    @staticmethod
    def key_for(ref: DiffRef) -> str:
        pr = ref.pr
        return f"{pr.owner}/{pr.repo}/{pr.number}/{ref.head_sha}"

    def path_for(self, ref: DiffRef) -> Path:
        return self._blobs.path_for(self.key_for(ref))

    def load(self, ref: DiffRef) -> ParsedPullRequest | None:
        """The stored diff, or ``None`` when absent or unreadable (then it is rebuilt)."""
        return self._blobs.load(self.key_for(ref), ParsedPullRequest)

    def save(self, parsed: ParsedPullRequest) -> None:
        self._blobs.save(self.key_for(parsed.ref), parsed)
