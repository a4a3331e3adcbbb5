# --- Bad input: property-based tests of the webhook endpoint and the diff parser ---
"""Hypothesis throws arbitrary input at the two places where the outside world comes in.

* The webhook endpoint: whatever bytes, headers or JSON arrive (pathological JSON included), it
  never answers a 5xx but 503 when Temporal is down, and never starts a review without a valid
  signature; a body over the cap is refused with 413, declared or streamed; any comment GitHub
  can deliver is answered 2xx.
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
from urllib.parse import quote_from_bytes, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from starlette.testclient import TestClient

from prsaga.local.demo import load_demo_pull_request
from prsaga.review.commands import parse_command
from prsaga.review.diff import (
    DiffFile,
    DiffParseError,
    Hunk,
    LineKind,
    diff_file_from_github,
    parse_patch,
)
from prsaga.runtime.config import Settings
from prsaga.schema import CommandEvent, PullRequestEvent, PullRequestRef
from starter.github_events import SubmitUnavailable
from starter.webhook import create_app
from tests.git_diff import parse_unified_diff
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


# Pathological JSON: every shape a hostile (but correctly signed) sender can give a body.


def nested(kinds: list[str], depth: int, leaf: str = "1") -> str:
    """``depth`` levels of arrays and objects, cycling through ``kinds``."""
    opens = {"array": "[", "object": '{"k":', "payload": '{"action":"opened","pull_request":'}
    closes = {"array": "]", "object": "}", "payload": "}"}
    levels = [kinds[i % len(kinds)] for i in range(depth)]
    return "".join(opens[k] for k in levels) + leaf + "".join(closes[k] for k in reversed(levels))


scalar_texts = st.one_of(
    st.builds(lambda sign, n: sign + "9" * n, st.sampled_from(["", "-"]), st.integers(1, 12_000)),
    st.builds(lambda n, e: f"1.{'5' * n}e{e}", st.integers(0, 5_000), st.integers(-99_999, 99_999)),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "-0", "1e400", "null", "true", '""']),
    st.builds(lambda c, n: json.dumps(c * n), st.characters(), st.integers(0, 40_000)),
    st.sampled_from(['"\\ud800"', '"\\udfff\\ud800"', '"\\u0000"', '"\\x"', '"unterminated']),
)
deep_texts = st.builds(
    nested,
    st.lists(st.sampled_from(["array", "object", "payload"]), min_size=1, max_size=4),
    st.integers(1, 20_000),
    scalar_texts,
)
pathological_values = scalar_texts | deep_texts
"""JSON texts (and near-JSON: Python's NaN, broken escapes) a value can be."""
PAYLOAD_PATHS = [
    ("action",),
    ("number",),
    ("zen",),
    ("label",),
    ("installation",),
    ("installation", "id"),
    ("repository", "owner", "login"),
    ("pull_request",),
    ("pull_request", "head", "sha"),
    ("pull_request", "number"),
    ("issue", "number"),
    ("issue", "pull_request"),
    ("comment", "body"),
    ("comment", "id"),
    ("comment", "user", "type"),
]


def with_raw_value(payload: dict[str, Any], path: tuple[str, ...], raw: str) -> str:
    """``payload`` as JSON text with the node at ``path`` (created if missing) set to ``raw``."""
    document = copy.deepcopy(payload)
    node = document
    for key in path[:-1]:
        child = node.get(key)
        node[key] = child = child if isinstance(child, dict) else {}
        node = child
    node[path[-1]] = "__RAW__"
    return json.dumps(document).replace('"__RAW__"', raw, 1)


def with_duplicate_key(payload: dict[str, Any], key: str, raw: str, first: bool) -> str:
    """``payload`` as JSON text with a second ``key`` before or after its own."""
    text = json.dumps(payload)
    duplicate = f"{json.dumps(key)}: {raw}"
    return "{" + duplicate + ", " + text[1:] if first else text[:-1] + ", " + duplicate + "}"


COMMENT_PAYLOAD = json.loads(
    (
        TESTS_DIR
        / "fixtures/webhooks/issue_comment/go-playground-webhooks__pull-request-issue-comment.json"
    ).read_bytes()
)


@st.composite
def pathological_documents(draw: st.DrawFn) -> str:
    """A JSON text: a pathological value at the top level, inside a real payload, or as a
    duplicate of one of its keys."""
    payload = draw(st.sampled_from([DEMO_PAYLOAD, COMMENT_PAYLOAD, {"zen": "z", "hook_id": 1}]))
    value = draw(pathological_values)
    where = draw(st.sampled_from(["top", "inside", "duplicate"]))
    if where == "top":
        return value
    if where == "inside":
        return with_raw_value(payload, draw(st.sampled_from(PAYLOAD_PATHS)), value)
    key = draw(st.sampled_from([*payload, "action", "zen"]))
    return with_duplicate_key(payload, key, value, draw(st.booleans()))


@st.composite
def encoded(draw: st.DrawFn, text: str) -> bytes:
    """``text`` as bytes: UTF-8, with a byte-order mark, in UTF-16/32, or with invalid UTF-8."""
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "utf-16-be"]))
    body = text.encode(encoding, "surrogatepass")
    if draw(st.booleans()):
        at = draw(st.integers(0, len(body)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\x00"]))
        body = body[:at] + junk + body[at:]
    return body


class TemporalDownSubmit(RecordingSubmit):
    """``submit`` against a Temporal that is down: every submission raises ``SubmitUnavailable``."""

    async def __call__(self, pr: PullRequestRef, event: PullRequestEvent | CommandEvent) -> str:
        self.calls.append((pr, event))
        raise SubmitUnavailable("Temporal is down (test)")


DOWN = TemporalDownSubmit()
GITHUB_LIMITS = APP_SETTINGS.model_copy(update={"webhook_max_body_bytes": 25 * 1024 * 1024})
"""GitHub's own cap on a delivery (25 MB), so that large bodies reach the decoder."""


@pytest.fixture(scope="module")
def http_up() -> Iterator[TestClient]:
    with TestClient(create_app(GITHUB_LIMITS, SUBMIT), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def http_down() -> Iterator[TestClient]:
    with TestClient(create_app(GITHUB_LIMITS, DOWN), raise_server_exceptions=False) as client:
        yield client


@PROPERTY
@given(
    data=st.data(),
    document=pathological_documents(),
    event=st.sampled_from(["pull_request", "issue_comment", "ping", "push"]) | events,
    form=st.booleans(),
    temporal_down=st.booleans(),
)
def test_pathological_json_is_never_a_5xx_but_503_for_temporal_down(
    http_up: TestClient,
    http_down: TestClient,
    data: st.DataObject,
    document: str,
    event: str,
    form: bool,
    temporal_down: bool,
):
    """Deep nesting (arrays, objects, payloads in payloads), huge numbers and strings, duplicate
    keys, NaN and Infinity, broken escapes, non-object tops, byte-order marks, UTF-16/32 and
    invalid UTF-8, as JSON or form-encoded: every answer is below 500, except 503 when (and only
    when) Temporal is down and the delivery was routed to a workflow."""
    body = data.draw(encoded(document))
    if form:
        body = b"payload=" + quote_from_bytes(body).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded" if form else "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "pathological",
        "X-Hub-Signature-256": sign(body),
    }
    submit = DOWN if temporal_down else SUBMIT
    before = len(submit.calls)
    response = (http_down if temporal_down else http_up).post(
        "/webhooks/github", content=body, headers=headers
    )
    submitted = len(submit.calls) - before
    if temporal_down and submitted:
        assert response.status_code == 503, response.text
    else:
        assert response.status_code < 500, response.text
        assert submitted == (1 if response.status_code == 202 else 0)
    assert response.json()["status"] in ("accepted", "ignored", "pong", "error")


# Comments: whatever a person can type (GitHub keeps up to 65,536 characters) is answered 2xx.

GITHUB_MAX_COMMENT = 65_536
command_lines = st.builds(
    lambda lead, prefix, gap, word, gap2, argument: lead + prefix + gap + word + gap2 + argument,
    st.sampled_from(["", " ", "\t", "> ", "\u00a0"]),
    st.sampled_from(["/agent", "/AGENT", "/Agent", "/agents", "/", "agent"]),
    st.sampled_from(["", " ", "\t", "  ", "\u3000"]),
    st.sampled_from(["review", "approve", "reject", "retry", "cancel", "status", "help", ""])
    | st.text(max_size=30),
    st.sampled_from(["", " ", "\t"]),
    st.text(max_size=200),
)
long_runs = st.builds(
    lambda piece, times: piece * times, st.text(min_size=1, max_size=8), st.integers(1, 70_000)
)
"""A pasted URL, a minified blob, a wall of emoji: one long word or line."""
comment_lines = command_lines | st.text() | long_runs | command_lines.map(lambda c: c + "x" * 600)
comment_bodies = st.builds(
    lambda lines, newline: newline.join(lines)[:GITHUB_MAX_COMMENT],
    st.lists(comment_lines, max_size=6),
    st.sampled_from(["\n", "\r\n", "\r", "\u2028"]),
)


@PROPERTY
@given(body=comment_bodies, form=st.booleans())
def test_every_comment_github_can_deliver_is_answered_2xx(
    http_up: TestClient, body: str, form: bool
):
    """Any text up to GitHub's 65,536 characters, in a pull request's conversation: a command
    (202, its argument clipped to the schema's bound with a note) or no command (200); never a
    4xx, which GitHub would show as a failed delivery."""
    payload = copy.deepcopy(COMMENT_PAYLOAD)
    payload["comment"]["body"] = body
    text = json.dumps(payload, ensure_ascii=False)  # as GitHub sends it: UTF-8, not escaped
    raw = urlencode({"payload": text}).encode() if form else text.encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded" if form else "application/json",
        "X-GitHub-Event": "issue_comment",
        "X-GitHub-Delivery": "comment",
        "X-Hub-Signature-256": sign(raw),
    }
    before = len(SUBMIT.calls)
    response = http_up.post("/webhooks/github", content=raw, headers=headers)
    command = parse_command(body, APP_SETTINGS.command_prefix)
    assert response.status_code == (200 if command is None else 202), response.text
    if command is not None:
        [(_, event)] = SUBMIT.calls[before:]
        assert isinstance(event, CommandEvent)
        assert (event.command, event.argument) == (command.command, command.argument)


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
