# --- Bad input: property-based tests of the webhook endpoint and the diff parser ---
"""Hypothesis throws arbitrary input at the two places where the outside world comes in.

* The webhook endpoint: whatever bytes, headers or JSON arrive, it never answers 500 and never
  starts a review without a valid signature; a body over the cap is refused with 413, declared
  or streamed.
* The diff parser: whatever text it is given, it returns or raises its documented
  ``DiffParseError``, never anything else; a valid diff it is given, generated or real (every
  fixture), comes back out of its model exactly as it went in.

``PRSAGA_HYPOTHESIS_EXAMPLES`` sets the examples per property (default 150).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from starlette.testclient import TestClient

from prsaga.local.demo import load_demo_pull_request
from prsaga.review.diff import (
    DiffFile,
    DiffParseError,
    Hunk,
    LineKind,
    diff_file_from_github,
    parse_patch,
    parse_unified_diff,
)
from prsaga.runtime.config import Settings
from prsaga.schema import CommandEvent, PullRequestEvent, PullRequestRef
from starter.webhook import create_app
from tests.paths import TESTS_DIR

EXAMPLES = int(os.environ.get("PRSAGA_HYPOTHESIS_EXAMPLES", "150"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.too_slow],
)
SECRET = "property-" + "s3cr3t" * 4
MAX_BODY = 64 * 1024
DIFFS = TESTS_DIR / "fixtures" / "diffs"

# ------------------------------------------------------------------------------------------------
# The webhook endpoint


class RecordingSubmit:
    """``submit`` that records what it was asked to start, instead of calling Temporal."""

    def __init__(self) -> None:
        self.calls: list[tuple[PullRequestRef, PullRequestEvent | CommandEvent]] = []

    async def __call__(self, pr: PullRequestRef, event: PullRequestEvent | CommandEvent) -> str:
        self.calls.append((pr, event))
        return pr.workflow_id


SUBMIT = RecordingSubmit()
APP_SETTINGS = Settings(
    _env_file=None,  # type: ignore[call-arg]
    webhook_secret=SecretStr(SECRET),
    webhook_max_body_bytes=MAX_BODY,
)


@pytest.fixture(scope="module")
def http() -> Iterator[TestClient]:
    with TestClient(create_app(APP_SETTINGS, SUBMIT), raise_server_exceptions=False) as client:
        yield client


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(client: TestClient, body: Any, headers: dict[str, str]) -> tuple[int, int]:
    """POST to the webhook; (status, how many workflows it submitted)."""
    before = len(SUBMIT.calls)
    response = client.post("/webhooks/github", content=body, headers=headers)
    return response.status_code, len(SUBMIT.calls) - before


printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
header_values = st.text(printable, max_size=80)
header_names = st.sampled_from(
    [
        "X-GitHub-Event",
        "X-GitHub-Delivery",
        "X-Hub-Signature-256",
        "X-Hub-Signature",
        "Content-Type",
        "User-Agent",
        "X-GitHub-Hook-ID",
    ]
) | st.from_regex(r"X-[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True)
events = st.sampled_from(
    ["pull_request", "issue_comment", "ping", "push", "installation", ""]
) | st.text(printable, max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)


@PROPERTY
@given(body=st.binary(max_size=2048), headers=st.dictionaries(header_names, header_values))
def test_unsigned_or_badly_signed_deliveries_are_refused(
    http: TestClient, body: bytes, headers: dict[str, str]
):
    """Arbitrary bytes and headers, with no signature, a made-up one, or one over other bytes:
    401, and nothing is submitted."""
    headers = {k: v for k, v in headers.items() if k.lower() != "x-hub-signature-256"}
    for signature in (None, headers.get("X-Hub-Signature"), sign(body + b"."), sign(body, "x")):
        sent = dict(headers)
        if signature is not None:
            sent["X-Hub-Signature-256"] = signature
        assert post(http, body, sent) == (401, 0)


@PROPERTY
@given(
    body=st.binary(max_size=2048),
    content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded"])
    | header_values,
    event=events,
)
def test_signed_bodies_that_are_not_payloads_are_refused(
    http: TestClient, body: bytes, content_type: str, event: str
):
    """Correctly signed bytes that are no GitHub payload: refused (4xx) or ignored (200, e.g.
    ``{}`` has no action to act on), never a 5xx, and nothing submitted."""
    headers = {
        "Content-Type": content_type,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "delivery",
        "X-Hub-Signature-256": sign(body),
    }
    status, submitted = post(http, body, headers)
    assert status in (200, 400, 415), status
    assert submitted == 0


def mutated(data: st.DataObject, value: Any, depth: int = 0) -> Any:
    """``value`` with one node somewhere replaced by arbitrary JSON, or deleted."""
    if (
        depth > 6
        or not isinstance(value, (dict, list))
        or not value
        or data.draw(st.booleans(), label="stop here")
    ):
        return data.draw(json_values, label="replacement")
    copied = copy.copy(value)
    key = data.draw(
        st.sampled_from(sorted(copied) if isinstance(copied, dict) else range(len(copied)))
    )
    if isinstance(copied, dict) and data.draw(st.booleans(), label="delete"):
        del copied[key]
    else:
        copied[key] = mutated(data, copied[key], depth + 1)
    return copied


DEMO_PAYLOAD = load_demo_pull_request().webhook_payload


@PROPERTY
@given(data=st.data(), event=events, delivery=header_values, form=st.booleans())
def test_signed_deliveries_of_any_shape_never_fail_the_server(
    http: TestClient, data: st.DataObject, event: str, delivery: str, form: bool
):
    """A correctly signed delivery whose payload is GitHub's with any one node changed or
    removed, under any event name, as JSON or as GitHub's form encoding: never a 5xx, and a
    workflow is submitted exactly when the answer is 202."""
    payload = mutated(data, DEMO_PAYLOAD)
    text = json.dumps(payload)
    body = urlencode({"payload": text}).encode() if form else text.encode()
    content_type = "application/x-www-form-urlencoded" if form else "application/json"
    headers = {
        "Content-Type": content_type,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(body),
    }
    status, submitted = post(http, body, headers)
    assert status in (200, 202, 400, 415), status
    assert submitted == (1 if status == 202 else 0)


@PROPERTY
@given(
    size=st.integers(MAX_BODY + 1, 3 * MAX_BODY),
    signed=st.booleans(),
    streamed=st.booleans(),
)
def test_oversized_bodies_are_refused_with_413(
    http: TestClient, size: int, signed: bool, streamed: bool
):
    """A body over the cap: 413 whether its length is declared or it is streamed in chunks,
    and whatever its signature."""
    body = json.dumps({**DEMO_PAYLOAD, "padding": "x" * size}).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": "d",
        "X-Hub-Signature-256": sign(body) if signed else "x",
    }
    content: Any = (body[i : i + 1000] for i in range(0, len(body), 1000)) if streamed else body
    assert post(http, content, headers) == (413, 0)


def test_the_demo_delivery_is_accepted(http: TestClient):
    """The control: the same endpoint accepts GitHub's real delivery (so the refusals above
    are the inputs' doing)."""
    body = json.dumps(DEMO_PAYLOAD).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": "real",
        "X-Hub-Signature-256": sign(body),
    }
    assert post(http, body, headers) == (202, 1)


# ------------------------------------------------------------------------------------------------
# The diff parser: arbitrary and near-valid text


line_text = st.text(st.characters(codec="utf-8", exclude_characters="\n"))
small = st.integers(0, 12)
hunk_headers = st.builds(
    lambda a, b, c, d, tail: f"@@ -{a}{b} +{c}{d} @@{tail}",
    small,
    st.sampled_from(["", ",0", ",1", ",2", ",3"]),
    small,
    st.sampled_from(["", ",0", ",1", ",2", ",3"]),
    st.sampled_from(["", " def f():", "  ", "\r"]),
)
patch_lines = st.one_of(
    hunk_headers,
    st.builds(lambda tag, text: tag + text, st.sampled_from([" ", "+", "-"]), line_text),
    st.sampled_from(["\\ No newline at end of file", "", " ", "@@@ -1 -1 +1 @@@", "\r"]),
    line_text,
)
git_header_lines = st.sampled_from(
    [
        "diff --git a/x.py b/x.py",
        "diff --git a/old name b/new name",
        'diff --git "a/caf\\303\\251" "b/caf\\303\\251"',
        'diff --git "a/bad\\q" "b/bad"',
        "diff --cc merged.py",
        "diff --git a/x",
        "--- a/x.py",
        "+++ b/x.py",
        "--- /dev/null",
        "+++ /dev/null",
        "index 83db48f..bf269f4 100644",
        "new file mode 100644",
        "deleted file mode 120000",
        "old mode 100644",
        "new mode 100755",
        "similarity index 90%",
        "rename from a.py",
        "rename to b.py",
        "copy from a.py",
        "Binary files a/x.bin and b/x.bin differ",
        "GIT binary patch",
        "literal 0",
    ]
)


def joined(lines: list[str], crlf: bool) -> str:
    return ("\r\n" if crlf else "\n").join(lines)


@PROPERTY
@given(text=st.text())
def test_arbitrary_text_raises_nothing_but_diff_parse_error(text: str):
    for parse in (parse_patch, parse_unified_diff):
        try:
            parse(text)
        except DiffParseError:
            pass


@PROPERTY
@given(lines=st.lists(patch_lines, max_size=30), crlf=st.booleans())
def test_near_valid_patches_raise_nothing_but_diff_parse_error(lines: list[str], crlf: bool):
    try:
        hunks = parse_patch(joined(lines, crlf))
    except DiffParseError:
        return
    for hunk in hunks:  # what parses is consistent with its header
        assert sum(ln.kind is not LineKind.ADDED for ln in hunk.lines) == hunk.old_count
        assert sum(ln.kind is not LineKind.REMOVED for ln in hunk.lines) == hunk.new_count


@PROPERTY
@given(lines=st.lists(git_header_lines | patch_lines, max_size=40), crlf=st.booleans())
def test_near_valid_git_diffs_raise_nothing_but_diff_parse_error(lines: list[str], crlf: bool):
    try:
        parse_unified_diff(joined(lines, crlf))
    except DiffParseError:
        pass


github_items = st.fixed_dictionaries(
    {
        "filename": st.text(min_size=1, max_size=40),
        "status": st.sampled_from(
            ["added", "removed", "modified", "renamed", "copied", "changed", "unchanged", "new"]
        ),
        "additions": st.integers(-1, 50),
        "deletions": st.integers(-1, 50),
    },
    optional={
        "changes": st.integers(0, 100),
        "previous_filename": st.text(min_size=1, max_size=40),
        "patch": st.lists(patch_lines, max_size=20).map("\n".join),
    },
)


@PROPERTY
@given(item=github_items)
def test_github_file_items_raise_nothing_but_diff_parse_error(item: dict[str, Any]):
    """Items shaped like GitHub's ``/pulls/{n}/files``, with any values."""
    try:
        diff_file = diff_file_from_github(item)
    except DiffParseError:
        return
    assert diff_file.path == item["filename"]
    assert diff_file.commentable_lines() >= diff_file.added_lines()


# ------------------------------------------------------------------------------------------------
# Round trips: a parsed diff renders back to the text it came from


def render_hunk(hunk: Hunk) -> list[str]:
    """A hunk as git writes it: counts of 1 left out, the "\\ No newline" marker after the
    last line of a side that has no final newline."""

    def span(start: int, count: int) -> str:
        return f"{start}" if count == 1 else f"{start},{count}"

    header = (
        f"@@ -{span(hunk.old_start, hunk.old_count)} +{span(hunk.new_start, hunk.new_count)} @@"
    )
    lines = [header + (f" {hunk.section}" if hunk.section else "")]
    last_old = max((i for i, ln in enumerate(hunk.lines) if ln.old_line is not None), default=-1)
    last_new = max((i for i, ln in enumerate(hunk.lines) if ln.new_line is not None), default=-1)
    marker = {LineKind.CONTEXT: " ", LineKind.ADDED: "+", LineKind.REMOVED: "-"}
    for i, line in enumerate(hunk.lines):
        lines.append(marker[line.kind] + line.text + ("\r" if line.crlf else ""))
        if (hunk.old_no_newline_at_eof and i == last_old) or (
            hunk.new_no_newline_at_eof and i == last_new
        ):
            lines.append("\\ No newline at end of file")
    return lines


def render_patch(hunks: list[Hunk]) -> str:
    return "\n".join(line for hunk in hunks for line in render_hunk(hunk))


def fixture_patches() -> Iterator[Any]:
    names = sorted(DIFFS.glob("*.pr-files.json")) + [
        DIFFS / "github-served" / "sigmavirus24-github3.py-pull-235.files.json"
    ]
    for path in names:
        for item in json.loads(path.read_bytes().decode()):
            if item.get("patch"):
                yield pytest.param(item, id=f"{path.name}:{item['filename']}")


@pytest.mark.parametrize("item", list(fixture_patches()))
def test_every_real_patch_round_trips(item: dict[str, Any]):
    """GitHub's per-file patch of every fixture, parsed and rendered back, is the same text,
    and its model survives JSON (the diff store's format)."""
    diff_file = diff_file_from_github(item)
    assert render_patch(diff_file.hunks) == item["patch"]
    assert DiffFile.model_validate_json(diff_file.model_dump_json()) == diff_file


def fixture_diffs() -> Iterator[Any]:
    for path in sorted(DIFFS.glob("*.diff")) + sorted((DIFFS / "github-served").glob("*.diff")):
        if not path.name.startswith("18a-"):  # a combined merge diff: refused by design
            yield pytest.param(path, id=path.name)


@pytest.mark.parametrize("path", list(fixture_diffs()))
def test_every_real_git_diff_round_trips(path: Path):
    """Every fixture git diff: each file's hunks, rendered back, are found in the diff's text in
    order, and every hunk line of the text is in some hunk."""
    text = path.read_bytes().decode()
    files = parse_unified_diff(text)
    position = 0
    for diff_file in files:
        for hunk in diff_file.hunks:
            block = "\n".join(render_hunk(hunk)) + "\n"
            found = text.find(block, position)
            assert found >= 0, f"{diff_file.path}: hunk at -{hunk.old_start} not in the text"
            position = found + len(block)
        assert DiffFile.model_validate_json(diff_file.model_dump_json()) == diff_file
    headers = [line for line in text.split("\n") if line.startswith("@@")]
    assert len(headers) == sum(len(f.hunks) for f in files), "a hunk was skipped"


@st.composite
def valid_patches(draw: st.DrawFn) -> str:
    """A well-formed patch: hunks in order, each line counted in its header."""
    hunks: list[str] = []
    old = new = 1
    for index in range(draw(st.integers(1, 4))):
        gap = 0 if index == 0 else 1  # git merges hunks that would touch
        old += gap + draw(st.integers(0, 20))
        new += gap + draw(st.integers(0, 20))
        body = draw(
            st.lists(
                st.tuples(st.sampled_from(" +-"), line_text.filter(lambda t: "\r" not in t)),
                min_size=1,
                max_size=12,
            )
        )
        old_count = sum(tag != "+" for tag, _ in body)
        new_count = sum(tag != "-" for tag, _ in body)
        old_start = old if old_count else old - 1
        new_start = new if new_count else new - 1
        span = lambda start, count: f"{start}" if count == 1 else f"{start},{count}"  # noqa: E731
        hunks.append(f"@@ -{span(old_start, old_count)} +{span(new_start, new_count)} @@")
        hunks += [tag + text for tag, text in body]
        old += old_count
        new += new_count
    return "\n".join(hunks)


@PROPERTY
@given(patch=valid_patches())
def test_every_valid_patch_round_trips(patch: str):
    assert render_patch(parse_patch(patch)) == patch
