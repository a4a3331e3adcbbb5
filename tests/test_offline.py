"""The offline reviewer runs the real ruff and detect-secrets, so these tests do too."""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path

import pytest

from prsaga import offline
from prsaga.models import Finding, Severity
from prsaga.offline import ChangedFile, OfflineReview, ToolRun, review_files

FIXTURES = Path(__file__).parent / "fixtures" / "offline"
RUFF_SELECT = ["E4", "E7", "E9", "F", "W", "B"]

# Fake secrets, assembled at run time so that no secret scanner flags this repository.
FAKE_AWS_KEY_IDS = ["AKIA" + suffix for suffix in ("Q7ZT4MPL2R3T9WVB", "J5KD8XNC3V7BH2QM")]
FAKE_KEY_BODY = "MIIEow" + "IBAAKCAQEAx7Hq" + "Zp3kVw9LmR2sT8uY4bN6cD1eF5gJ0aK3oP7iQ2"
FAKE_PRIVATE_KEY = (
    "-----BEGIN RSA " + "PRIVATE KEY-----\n" + FAKE_KEY_BODY + "\n-----END RSA PRIVATE KEY-----\n"
)
FAKE_PASSWORD = "Corr3ct" + "Horse" + "Battery"


def changed(path: str, content: str | None, added: set[int] | range | None = None) -> ChangedFile:
    """A changed file; without ``added``, every line of the content is added (a new file)."""
    if added is None:
        added = range(1, content.count("\n") + 1) if content else set()
    return ChangedFile(path=path, content=content, added_lines=frozenset(added))


def review(*files: ChangedFile, **kwargs: object) -> OfflineReview:
    return review_files(files, ruff_select=RUFF_SELECT, **kwargs)  # type: ignore[arg-type]


def by_tool(result: OfflineReview, tool: str) -> list[Finding]:
    return [f for f in result.findings if f.tool == tool]


def tool_run(result: OfflineReview, tool: str) -> ToolRun:
    (run,) = [t for t in result.tools if t.tool == tool]
    return run


def summary(findings: list[Finding]) -> list[tuple[str, int | None, list[int], Severity]]:
    return [(f.rule, f.line, f.also_on_lines, f.severity) for f in findings]


# --- a real pull request: psf/requests ca35c847a203 ----------------------------------------------


@pytest.fixture(scope="module")
def requests_server_py() -> str:
    data = (FIXTURES / "requests-ca35c847a203-server.py.txt").read_bytes()
    # The git blob id recorded for the file in that commit: proves the fixture is intact (an
    # editor stripping its trailing whitespace would change what ruff finds).
    blob_id = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    assert blob_id == "153775bd1ae298508abb5c85fa9b5179af07b90b"
    return data.decode("utf-8")


def test_real_added_file_reports_folded_ruff_findings_and_the_swap_file(
    requests_server_py: str,
) -> None:
    result = review(
        changed("tests/testserver/.server.py.swo", None),
        changed("tests/testserver/__init__.py", ""),
        changed("tests/testserver/server.py", requests_server_py),
    )

    assert summary(by_tool(result, "ruff")) == [
        ("W291", 3, [19, 20, 21, 103, 104, 105, 106], Severity.LOW),
        ("W293", 40, [92, 97, 107], Severity.LOW),
    ]
    trailing = by_tool(result, "ruff")[0]
    assert trailing.path == "tests/testserver/server.py"
    assert trailing.title == "Trailing whitespace"
    assert "trailing-whitespace" in trailing.message
    assert "Remove trailing whitespace" in trailing.message

    (swap,) = by_tool(result, "hygiene")
    assert (swap.path, swap.rule, swap.line, swap.severity) == (
        "tests/testserver/.server.py.swo",
        "editor-swap-file",
        None,
        Severity.MEDIUM,
    )
    assert by_tool(result, "detect-secrets") == []
    # Neither the binary swap file nor the empty file has added lines: nothing to skip.
    assert result.skipped == []
    # The empty __init__.py has no added line: nothing to scan, nothing to skip.
    assert [(t.tool, t.files, t.findings, t.error) for t in result.tools] == [
        ("ruff", 1, 2, None),
        ("detect-secrets", 1, 0, None),
        ("hygiene", 3, 1, None),
    ]
    assert all(t.version for t in result.tools)


def test_real_file_edited_later_reports_only_the_edited_lines(requests_server_py: str) -> None:
    result = review(changed("tests/testserver/server.py", requests_server_py, {19, 20, 21, 50}))

    assert summary(result.findings) == [("W291", 19, [20, 21], Severity.LOW)]


# --- ruff ---------------------------------------------------------------------------------------

LINT_ME = """\
import os
import sys
import json


def append(item, bucket=[]):
    bucket.append(item)
    return bucket


def unused_local():
    value = undefined_name
    return 1
"""


def test_ruff_reports_only_added_lines_with_mapped_severities() -> None:
    result = review(changed("app/lint_me.py", LINT_ME, {2, 3, 6, 12}))

    # Line 1's unused `os` is pre-existing; `sys` and `json` fold into one finding.
    assert summary(result.findings) == [
        ("F401", 2, [3], Severity.LOW),
        ("B006", 6, [], Severity.MEDIUM),
        ("F821", 12, [], Severity.MEDIUM),
        ("F841", 12, [], Severity.LOW),
    ]
    unused = result.findings[0]
    assert unused.title == "`sys` imported but unused"
    assert all(f.agent == "offline" and f.tool == "ruff" for f in result.findings)


def test_syntax_errors_only_on_added_lines_are_high() -> None:
    source = "x = 1\ndef broken_before(:\n    pass\n\n\ndef broken_now(:\n    pass\n"

    result = review(changed("app/syntax.py", source, {6, 7}))

    # Ruff reports two errors on each broken line; line 2 is pre-existing.
    assert summary(result.findings) == [("invalid-syntax", 6, [], Severity.HIGH)]


def test_syntax_error_reported_past_the_end_is_anchored_on_the_last_line() -> None:
    result = review(changed("app/eof.py", "x = 1\nprint(\n", {2}))

    assert summary(result.findings) == [("invalid-syntax", 2, [], Severity.HIGH)]


def test_multi_line_range_keeps_end_line_and_is_cut_to_added_lines() -> None:
    source = "def append(item, bucket=[\n    1,\n]):\n    bucket.append(item)\n    return bucket\n"

    whole = review(changed("app/ranges.py", source))
    middle = review(changed("app/ranges.py", source, {2}))

    assert [(f.rule, f.line, f.end_line) for f in whole.findings] == [("B006", 1, 3)]
    assert [(f.rule, f.line, f.end_line) for f in middle.findings] == [("B006", 2, None)]


def test_ruff_ignores_configuration_in_the_pull_request() -> None:
    result = review(
        # Without --isolated, ruff would read this and silence F401 in every file.
        changed("ruff.toml", '[lint.per-file-ignores]\n"*.py" = ["F401"]\n'),
        changed("pkg/mod.py", "import os\n"),
    )

    assert [(f.path, f.rule) for f in by_tool(result, "ruff")] == [("pkg/mod.py", "F401")]


def test_empty_ruff_select_disables_ruff() -> None:
    result = review_files([changed("pkg/mod.py", "import os\n")], ruff_select=[])

    assert [t.tool for t in result.tools] == ["detect-secrets", "hygiene"]
    assert result.findings == []


@pytest.mark.parametrize(
    ("script", "expected_error"),
    [
        ("#!/bin/sh\necho boom >&2\nexit 3\n", "exited with status 3"),
        ("#!/bin/sh\necho this is not json\n", "unreadable output (not JSON)"),
        ("#!/bin/sh\nsleep 30\n", "timed out after 0.5 s"),
    ],
    ids=["crash", "garbage", "timeout"],
)
def test_failing_ruff_is_recorded_and_the_other_tools_still_report(
    script: str, expected_error: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_ruff = tmp_path / "ruff"
    fake_ruff.write_text(script)
    fake_ruff.chmod(0o755)
    monkeypatch.setattr(offline, "find_ruff_bin", lambda: str(fake_ruff))
    secret_line = f'KEY_ID = "{FAKE_AWS_KEY_IDS[0]}"\n'

    started = time.monotonic()
    result = review(
        changed("app/mod.py", "import os\n" + secret_line),
        changed("app/mod.py.orig", None),
        timeout_seconds=0.5,
    )

    # The timeout kills the tool's whole process group, so `sleep 30` does not hold us up.
    assert time.monotonic() - started < 10
    assert tool_run(result, "ruff").error == expected_error
    assert by_tool(result, "ruff") == []
    assert [f.rule for f in by_tool(result, "detect-secrets")] == ["AWS Access Key"]
    assert [f.rule for f in by_tool(result, "hygiene")] == ["backup-file"]


def test_missing_ruff_binary_is_recorded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(offline, "find_ruff_bin", lambda: str(tmp_path / "no-such-ruff"))

    result = review(changed("app/mod.py", "import os\n"))

    assert tool_run(result, "ruff").error == "could not start (FileNotFoundError)"
    assert result.findings == []


# --- detect-secrets -----------------------------------------------------------------------------


def test_secrets_on_added_lines_are_critical_and_never_echoed() -> None:
    settings = "\n".join(
        [
            f'db_password = "{FAKE_PASSWORD}"',  # 1: pre-existing, not this PR's problem
            f'AWS_ACCESS_KEY_ID = "{FAKE_AWS_KEY_IDS[0]}"',  # 2
            "",
            f'SIGNING_KEY = """{FAKE_PRIVATE_KEY.rstrip()}"""',  # 4-6
            f'BACKUP_KEY_ID = "{FAKE_AWS_KEY_IDS[1]}"',  # 7: folded into line 2
            # 8: an explicit, reviewable allowlist pragma is honoured (like ruff's noqa)
            f'DOCS_KEY_ID = "{FAKE_AWS_KEY_IDS[1]}"  # pragma: allowlist secret',
        ]
    )
    result = review(
        changed("deploy/settings.py", settings + "\n", range(2, 9)),
        changed("deploy/keys/id_rsa.pem", FAKE_PRIVATE_KEY),
    )

    secrets = by_tool(result, "detect-secrets")
    assert [(f.path, f.rule, f.line, f.also_on_lines) for f in secrets] == [
        ("deploy/keys/id_rsa.pem", "Private Key", 1, []),
        ("deploy/settings.py", "AWS Access Key", 2, [7]),
        ("deploy/settings.py", "Private Key", 4, []),
    ]
    assert {f.severity for f in secrets} == {Severity.CRITICAL}
    aws = secrets[1]
    assert "AWS Access Key" in aws.title
    assert "deploy/settings.py" in aws.message and "rotate" in aws.message
    secret_texts = [*FAKE_AWS_KEY_IDS, FAKE_PASSWORD, FAKE_KEY_BODY, "PRIVATE KEY-----"]
    for finding in result.findings:
        for text in secret_texts:
            assert text not in finding.title and text not in finding.message
    assert tool_run(result, "detect-secrets").findings == 3


def test_scanned_files_cannot_shadow_the_scanner() -> None:
    # Were the scan directory on sys.path, these would be imported and the scan would fail.
    result = review(
        changed("detect_secrets/__init__.py", "raise SystemExit(7)\n"),
        changed("json.py", "raise SystemExit(7)\n"),
        changed("app/key.pem", FAKE_PRIVATE_KEY),
    )

    assert tool_run(result, "detect-secrets").error is None
    assert [(f.path, f.rule) for f in by_tool(result, "detect-secrets")] == [
        ("app/key.pem", "Private Key")
    ]


# --- hygiene ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("src/.main.py.swp", "editor-swap-file"),
        ("tests/testserver/.server.py.swo", "editor-swap-file"),
        (".notes.md.swn", "editor-swap-file"),
        ("setup.py~", "backup-file"),
        ("requests/models.py.orig", "backup-file"),
        ("requests/models.py.rej", "backup-file"),
        ("docs/.DS_Store", "os-metadata-file"),
        ("assets/Thumbs.db", "os-metadata-file"),
        ("assets/thumbs.db", "os-metadata-file"),
        ("swap.py", None),
        ("origin.txt", None),
        ("docs/DS_Store.md", None),
    ],
)
def test_junk_files_are_flagged_by_name(path: str, rule: str | None) -> None:
    result = review(changed(path, None))

    assert [(f.rule, f.line, f.severity) for f in result.findings] == (
        [(rule, None, Severity.MEDIUM)] if rule else []
    )


def test_conflict_markers_on_added_lines_fold_into_one_high_finding() -> None:
    source = "intro\r\n<<<<<<< HEAD\r\nours\r\n=======\r\ntheirs\r\n>>>>>>> feature/x\r\n"

    result = review(changed("NOTES.md", source, range(2, 7)))

    assert summary(result.findings) == [("merge-conflict-marker", 2, [4, 6], Severity.HIGH)]
    assert "<<<<<<<" in result.findings[0].message


def test_separator_alone_or_markers_on_unchanged_lines_are_not_conflicts() -> None:
    underline = "Title\n=======\n\nText\n"
    conflict = "<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> main\n"

    result = review(
        changed("docs/index.rst", underline),
        changed("docs/old.txt", conflict, {2, 3}),
    )

    assert result.findings == []


# --- paths --------------------------------------------------------------------------------------


def test_paths_with_spaces_and_unicode_are_reported_as_given() -> None:
    path = "src/my módulé/naïve file ☃.py"
    content = f'import os\nKEY_ID = "{FAKE_AWS_KEY_IDS[0]}"\n'

    result = review(changed(path, content))

    assert [(f.path, f.tool, f.rule) for f in result.findings] == [
        (path, "ruff", "F401"),
        (path, "detect-secrets", "AWS Access Key"),
    ]


@pytest.mark.parametrize(
    "hostile", ["../../../escaped.py", "/tmp/escaped.py", "a/../../../../escaped.py", "", "./x.py"]
)
def test_hostile_paths_are_skipped_and_nothing_escapes(
    hostile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "a" / "b"
    scratch.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    result = review(changed(hostile, "import os\n"), changed("ok.py", "import os\n"))

    assert [(s.path, s.reason.startswith("unsafe path")) for s in result.skipped] == [
        (hostile, True)
    ]
    assert [(f.path, f.rule) for f in result.findings] == [("ok.py", "F401")]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b"]  # and the scan dir is gone


def test_file_and_directory_with_the_same_name_skip_the_second() -> None:
    result = review(changed("pkg", "import os\n"), changed("pkg/mod.py", "import os\n"))

    assert [s.path for s in result.skipped] == ["pkg/mod.py"]
    assert "could not be written" in result.skipped[0].reason


def test_unavailable_binary_and_duplicate_files_are_skipped() -> None:
    result = review(
        changed("logo.png", None, added={1}),
        changed("data.bin", "abc\x00def\n"),
        changed("a.py", "import os\n"),
        changed("a.py", "import sys\n"),
    )

    assert [(s.path, s.reason) for s in result.skipped] == [
        ("a.py", "duplicate path in this batch"),
        ("data.bin", "binary content"),
        ("logo.png", "content not available at the head commit (binary or too large)"),
    ]
    assert [(f.path, f.title) for f in result.findings] == [("a.py", "`os` imported but unused")]


def test_output_is_sorted_and_does_not_depend_on_input_order(requests_server_py: str) -> None:
    files = [
        changed("z.py", "import os\n"),
        changed("tests/testserver/server.py", requests_server_py),
        changed("a/.DS_Store", None),
        changed("m.txt", "<<<<<<< HEAD\n=======\n>>>>>>> b\n"),
    ]

    forward = review(*files)
    backward = review(*reversed(files))

    assert forward == backward
    keys = [(f.path, f.line or 0, f.tool, f.rule) for f in forward.findings]
    assert keys == sorted(keys)
    assert [f.path for f in forward.findings] == [
        "a/.DS_Store",
        "m.txt",
        "tests/testserver/server.py",
        "tests/testserver/server.py",
        "z.py",
    ]


def test_folding_caps_the_line_list_and_counts_the_rest() -> None:
    content = "".join(f"x{n} = {n} \n" for n in range(1, 61))  # trailing space on 60 lines
    (trailing,) = [f for f in review(changed("many.py", content)).findings if f.rule == "W291"]
    assert trailing.line == 1
    assert trailing.also_on_lines == list(range(2, 52))
    assert trailing.also_on_more == 9
