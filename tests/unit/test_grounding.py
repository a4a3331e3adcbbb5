# --- Unit tests: the grounding verifier against a real diff (psf/requests 90fee0876aea) ---
from __future__ import annotations

import json

import pytest

from prsaga.review.diff import DiffFile, diff_file_from_github
from prsaga.review.grounding import (
    FILE_NOT_IN_PR,
    LINE_NOT_IN_DIFF,
    QUOTE_FAR_AWAY,
    QUOTE_NOT_FOUND,
    RANGE_CLAMPED,
    RANGE_INVALID,
    REANCHORED,
    SUGGESTION_DROPPED,
    SUGGESTION_NO_OP,
    SUGGESTION_OFF_LINE,
    verify,
)
from prsaga.schema import Finding, Severity
from tests.paths import TESTS_DIR

FIXTURES = TESTS_DIR / "fixtures" / "diffs"
PATH = "src/requests/adapters.py"


def load(name: str) -> dict[str, DiffFile]:
    items = json.loads((FIXTURES / f"{name}.pr-files.json").read_text())
    return {f.path: f for f in map(diff_file_from_github, items)}


@pytest.fixture(scope="module")
def files() -> dict[str, DiffFile]:
    """One file, four hunks; the last one (new lines 290-316) rewrites certificate loading."""
    return load("02-multi-hunk-single-file")


def finding(line: int | None, **kw: object) -> Finding:
    values: dict[str, object] = {
        "agent": "claude-correctness",
        "tool": "claude-sonnet-4-5",
        "rule": "correctness/correctness",
        "path": PATH,
        "line": line,
        "severity": Severity.MEDIUM,
        "title": "Problem",
        "message": "explanation",
    }
    values.update(kw)
    return Finding.model_validate(values)


def test_the_fixture_is_what_the_tests_assume(files):
    diff_file = files[PATH]
    assert diff_file.new_line_text(300) == (
        "                cert_loc = extract_zipped_paths(DEFAULT_CA_BUNDLE_PATH)"
    )
    assert diff_file.new_line_text(302) == (
        "            if not cert_loc or not os.path.exists(cert_loc):"
    )
    assert diff_file.hunks[-1].new_start + diff_file.hunks[-1].new_count - 1 == 316
    assert diff_file.hunks[2].new_start + diff_file.hunks[2].new_count - 1 == 93


def test_a_finding_with_its_quote_on_its_line_is_kept_as_is(files):
    grounded = finding(300, evidence="extract_zipped_paths(DEFAULT_CA_BUNDLE_PATH)")
    result = verify([grounded], files)
    assert result.kept == [grounded]
    assert (result.moved_to_summary, result.dropped, result.adjusted) == ([], {}, {})


def test_a_file_outside_the_pull_request_is_dropped(files):
    result = verify([finding(3, path="src/requests/sessions.py")], files)
    assert result.kept == result.moved_to_summary == []
    assert result.dropped == {FILE_NOT_IN_PR: 1}


def test_a_line_outside_the_diff_moves_to_the_summary(files):
    result = verify([finding(200, end_line=202, suggestion="x = 1")], files)
    assert result.kept == []
    [moved] = result.moved_to_summary
    assert (moved.line, moved.end_line, moved.suggestion) == (None, None, None)
    assert moved.title == "Problem"
    assert result.adjusted == {LINE_NOT_IN_DIFF: 1}


def test_a_quote_a_few_lines_away_re_anchors_the_finding(files):
    quoted = finding(300, end_line=304, evidence="if not cert_loc or not os.path.exists(cert_loc):")
    [kept] = verify([quoted], files).kept
    assert (kept.line, kept.end_line) == (302, 306)
    assert verify([quoted], files).adjusted == {REANCHORED: 1}


def test_a_wrong_line_outside_the_diff_is_fixed_by_a_nearby_quote(files):
    # Line 94 is not in the diff (the third hunk ends at 93); the quote is on line 92.
    quoted = finding(94, evidence="if not os.path.isdir(verify):")
    [kept] = verify([quoted], files).kept
    assert kept.line == 92


def test_quotes_compare_whitespace_insensitively_and_may_span_lines(files):
    spaced = finding(302, evidence="  if   not cert_loc\tor not  os.path.exists(cert_loc): ")
    multi = finding(
        303,
        evidence='raise OSError(\n    f"Could not find a suitable TLS CA certificate bundle, "\n'
        '  f"invalid path: {cert_loc}"',
    )
    result = verify([spaced, multi], files)
    assert [f.line for f in result.kept] == [302, 303]
    assert result.dropped == {}


def test_a_quote_far_from_its_line_moves_the_finding_to_the_summary(files):
    result = verify([finding(300, evidence="from urllib3.util import parse_url")], files)
    assert result.kept == []
    assert [f.line for f in result.moved_to_summary] == [None]
    assert result.adjusted == {QUOTE_FAR_AWAY: 1}


@pytest.mark.parametrize(
    "evidence",
    [
        "_preloaded_ssl_context = create_urllib3_context()",  # only on a removed line
        "conn.verify_hostname = False",  # nowhere
    ],
)
def test_a_quote_that_is_not_in_the_new_code_drops_the_finding(files, evidence):
    result = verify([finding(300, evidence=evidence), finding(None, evidence=evidence)], files)
    assert result.kept == result.moved_to_summary == []
    assert result.dropped == {QUOTE_NOT_FOUND: 2}


def test_a_range_is_clamped_to_its_hunk_and_loses_its_suggestion(files):
    result = verify(
        [
            finding(310, end_line=330, suggestion="x"),
            finding(92, end_line=290),  # runs into the next hunk
            finding(300, end_line=299),  # ends before it starts
        ],
        files,
    )
    assert [(f.line, f.end_line, f.suggestion) for f in result.kept] == [
        (310, 316, None),
        (92, 93, None),
        (300, None, None),
    ]
    assert result.adjusted == {RANGE_CLAMPED: 2, SUGGESTION_DROPPED: 1, RANGE_INVALID: 1}


def test_suggestions_are_kept_only_when_they_apply_and_change_something(files):
    replacement = (
        "            if os.path.isfile(cert_loc):\n                conn.ca_certs = cert_loc\n"
    )
    applies = finding(310, end_line=311, suggestion=replacement)
    same = finding(300, suggestion=files[PATH].new_line_text(300))
    file_level = finding(None, suggestion="anything")
    one_line_range = finding(313, end_line=313, suggestion="            pass")
    result = verify([applies, same, file_level, one_line_range], files)
    assert [f.suggestion for f in result.kept] == [replacement, None, None, "            pass"]
    assert result.kept[3].end_line is None
    assert result.adjusted == {SUGGESTION_NO_OP: 1, SUGGESTION_OFF_LINE: 1}


def test_a_deleted_file_has_no_line_to_comment_on():
    deleted = load("05-file-deleted")
    [path] = deleted
    result = verify([finding(1, path=path), finding(None, path=path)], deleted)
    assert [f.line for f in result.kept] == [None]
    assert [f.line for f in result.moved_to_summary] == [None]


def test_verification_is_deterministic_and_keeps_input_order(files):
    findings = [
        finding(313, title="c"),
        finding(300, title="a", evidence="cert_loc = extract_zipped_paths"),
        finding(1000, title="moved"),
        finding(293, title="b"),
    ]
    first = verify(findings, files)
    assert verify(findings, files) == first
    assert [f.title for f in first.kept] == ["c", "a", "b"]
    assert [f.title for f in first.moved_to_summary] == ["moved"]
