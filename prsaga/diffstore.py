"""Where parsed diffs live between activities, so that workflow history carries only a reference.

A parsed diff is immutable for a given (pull request, head SHA), so the store is a plain cache on
disk (a shared volume when workers run on several hosts): any activity that misses it rebuilds it
from GitHub (see ``activities.parse.load_parsed``). Writes are atomic, so a worker killed halfway
leaves no torn file behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ValidationError

from prsaga.diff import DiffFile
from prsaga.models import DiffRef


class ParsedPullRequest(BaseModel):
    """A pull request at one head SHA with its whole parsed diff."""

    ref: DiffRef
    base_sha: str
    title: str
    html_url: str
    author: str
    state: str
    draft: bool
    files: list[DiffFile]

    def files_by_path(self) -> dict[str, DiffFile]:
        return {f.path: f for f in self.files}

    def analyzable_files(self) -> list[DiffFile]:
        """Files present at the head, in a fixed order so that batches are stable across retries."""
        return sorted((f for f in self.files if f.status != "removed"), key=lambda f: f.path)


class DiffStore:
    """Parsed diffs on disk, keyed by their ``DiffRef``."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def path_for(self, ref: DiffRef) -> Path:
        pr = ref.pr
        return self._root / pr.owner / pr.repo / str(pr.number) / f"{ref.head_sha}.json"

    def load(self, ref: DiffRef) -> ParsedPullRequest | None:
        """The stored diff, or ``None`` when absent or unreadable (then it is rebuilt)."""
        try:
            return ParsedPullRequest.model_validate_json(self.path_for(ref).read_bytes())
        except (FileNotFoundError, ValidationError):
            return None

    def save(self, parsed: ParsedPullRequest) -> None:
        target = self.path_for(parsed.ref)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(parsed.model_dump_json().encode())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
