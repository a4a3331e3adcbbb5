"""Tests of the unified-diff parser on real diffs (see tests/fixtures/diffs/PROVENANCE.md)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from prsaga.review.diff import (
    DiffFile,
    DiffParseError,
    FileStatus,
    Hunk,
    LineKind,
    diff_file_from_github,
    parse_patch,
)
from tests.git_diff import parse_unified_diff
from tests.paths import TESTS_DIR

FIXTURES = TESTS_DIR / "fixtures" / "diffs"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))["entries"]
ENTRIES = {entry["id"]: entry for entry in MANIFEST}
TWO_SIDED = [entry for entry in MANIFEST if "pr_files_file" in entry]


def read_text(name: str) -> str:
    # Bytes, then decode: text mode would turn the CRLF lines of fixture 16 into LF.
    return (FIXTURES / name).read_bytes().decode("utf-8")


def diff_of(entry_id: str) -> list[DiffFile]:
    return parse_unified_diff(read_text(ENTRIES[entry_id]["diff_file"]))


def items_of(entry_id: str) -> list[dict[str, Any]]:
    return json.loads(read_text(ENTRIES[entry_id]["pr_files_file"]))


def by_path(files: list[DiffFile]) -> dict[str, DiffFile]:
    return {diff_file.path: diff_file for diff_file in files}


def assert_agrees(from_diff: list[DiffFile], items: list[dict[str, Any]]) -> None:
    """A parsed git diff and GitHub's file items describe the same files and lines."""
    from_api = [diff_file_from_github(item) for item in items]
    assert [f.path for f in from_diff] == [f.path for f in from_api]
    for ours, theirs, item in zip(from_diff, from_api, items, strict=True):
        assert ours.previous_path == theirs.previous_path == item.get("previous_filename")
        assert ours.status == theirs.status == item["status"]
        # Counted from the git diff's hunks, whether or not GitHub sent a patch.
        assert (ours.additions, ours.deletions) == (item["additions"], item["deletions"])
        if "patch" in item:
            assert theirs.patch_missing is None
            assert ours.hunks == theirs.hunks
            assert ours.added_lines() == theirs.added_lines()
            assert ours.commentable_lines() == theirs.commentable_lines()
            assert ours.commentable_old_lines() == theirs.commentable_old_lines()
            added = sum(ln.kind is LineKind.ADDED for h in theirs.hunks for ln in h.lines)
            removed = sum(ln.kind is LineKind.REMOVED for h in theirs.hunks for ln in h.lines)
            assert (added, removed) == (item["additions"], item["deletions"])
        else:
            assert theirs.hunks == []
            assert theirs.commentable_lines() == frozenset()
            if item["changes"] == 0:
                assert ours.patch_missing == theirs.patch_missing == "no_textual_change"


# --- every fixture ---------------------------------------------------------------------------


@pytest.mark.parametrize("entry", [e for e in MANIFEST if "files" in e], ids=lambda e: e["id"])
def test_every_fixture_diff_parses_to_the_manifest_counts(entry: dict[str, Any]) -> None:
    files = parse_unified_diff(read_text(entry["diff_file"]))
    assert len(files) == entry["files"]
    assert sum(f.additions for f in files) == entry["additions"]
    assert sum(f.deletions for f in files) == entry["deletions"]


def test_combined_merge_diff_is_rejected_with_a_clear_error() -> None:
    with pytest.raises(DiffParseError) as caught:
        diff_of("18a-merge-commit-combined")
    message = str(caught.value)
    assert "combined diff" in message and "not a pull-request format" in message
    assert caught.value.path == "requests/sessions.py"
    assert caught.value.line_number == 1


def test_combined_hunk_header_in_a_patch_is_rejected() -> None:
    with pytest.raises(DiffParseError, match="combined diff"):
        parse_patch("@@@ -1,2 -1,2 +1,3 @@@\n  a\n+ b\n  c")


@pytest.mark.parametrize("entry", TWO_SIDED, ids=lambda e: e["id"])
def test_git_diff_agrees_with_pr_files(entry: dict[str, Any]) -> None:
    assert_agrees(diff_of(entry["id"]), items_of(entry["id"]))


@pytest.mark.parametrize(
    ("diff_name", "files_name", "key"),
    [
        (
            "sigmavirus24-github3.py-pull-235.diff",
            "sigmavirus24-github3.py-pull-235.files.json",
            None,
        ),
        (
            "MrBatschner-github3.py-compare-main...broken-recordings.diff",
            "MrBatschner-github3.py-compare-main...broken-recordings.compare.json",
            "files",
        ),
    ],
)
def test_github_served_diff_agrees_with_githubs_own_patches(
    diff_name: str, files_name: str, key: str | None
) -> None:
    served = json.loads(read_text(f"github-served/{files_name}"))
    items = served if key is None else served[key]
    from_diff = parse_unified_diff(read_text(f"github-served/{diff_name}"))
    assert all("patch" in item for item in items)
    assert_agrees(from_diff, items)


def test_pull_235_lines() -> None:
    items = json.loads(read_text("github-served/sigmavirus24-github3.py-pull-235.files.json"))
    release, tests = (diff_file_from_github(item) for item in items)
    assert release.added_lines() == {25, 26}
    assert release.commentable_lines() == set(range(22, 30))
    assert tests.added_lines() == set(range(18, 30)) | set(range(44, 48))
    # GitHub's patch ends in an empty context line: " " with no newline after it.
    assert tests.hunks[-1].lines[-1].kind is LineKind.CONTEXT
    assert tests.new_line_text(50) == ""


# --- exact line numbers, read off the fixtures -----------------------------------------------


def test_simple_edit_line_numbers() -> None:
    (utils,) = diff_of("01-simple-edit-single-hunk")
    (hunk,) = utils.hunks
    assert (hunk.old_start, hunk.old_count, hunk.new_start, hunk.new_count) == (236, 13, 236, 7)
    assert hunk.section == "def get_netrc_auth(url, raise_errors=False):"
    assert utils.added_lines() == {239}
    assert utils.new_line_text(239) == "        host = ri.hostname"
    assert utils.commentable_lines() == set(range(236, 243))
    assert utils.commentable_old_lines() == set(range(236, 249))
    removed = [ln.old_line for ln in hunk.lines if ln.kind is LineKind.REMOVED]
    assert removed == list(range(239, 246))
    assert utils.new_line_text(242) == "            _netrc = netrc(netrc_path).authenticators(host)"
    assert utils.new_line_text(243) is None
    assert utils.new_line_text(235) is None


def test_multi_hunk_headers() -> None:
    (adapters,) = diff_of("02-multi-hunk-single-file")
    assert len(adapters.hunks) == 4
    first = adapters.hunks[0]
    assert (first.old_start, first.old_count, first.new_start, first.new_count) == (27, 7, 27, 6)
    for hunk in adapters.hunks:
        assert sum(ln.old_line is not None for ln in hunk.lines) == hunk.old_count
        assert sum(ln.new_line is not None for ln in hunk.lines) == hunk.new_count


def test_file_added() -> None:
    (added,) = diff_of("04-file-added")
    assert added.status is FileStatus.ADDED
    assert added.hunks[0].old_start == 0 and added.hunks[0].old_count == 0
    assert added.added_lines() == added.commentable_lines() == set(range(1, 16))
    assert added.commentable_old_lines() == frozenset()
    assert added.new_line_text(1) == "name: 'Lock Threads'"


def test_file_deleted_has_no_right_side_lines() -> None:
    (deleted,) = diff_of("05-file-deleted")
    (from_api,) = (diff_file_from_github(item) for item in items_of("05-file-deleted"))
    for diff_file in (deleted, from_api):
        assert diff_file.path == ".travis.yml"
        assert diff_file.status is FileStatus.REMOVED
        assert diff_file.commentable_lines() == frozenset()
        assert diff_file.added_lines() == frozenset()
        assert diff_file.commentable_old_lines() == set(range(1, 43))
        assert diff_file.new_line_text(1) is None


def test_pure_rename() -> None:
    (renamed,) = diff_of("06-renamed-pure")
    (from_api,) = (diff_file_from_github(item) for item in items_of("06-renamed-pure"))
    for diff_file in (renamed, from_api):
        assert (diff_file.path, diff_file.previous_path) == (
            "requests/_config.py",
            "requests/config.py",
        )
        assert diff_file.status is FileStatus.RENAMED
        assert diff_file.hunks == []
        assert diff_file.patch_missing == "no_textual_change"
        assert diff_file.commentable_lines() == frozenset()


def test_rename_with_edits() -> None:
    (renamed,) = diff_of("07-renamed-and-modified")
    assert (renamed.path, renamed.previous_path) == ("requests/help.py", "requests/_bug.py")
    assert renamed.status is FileStatus.RENAMED
    assert renamed.added_lines() == {9, 10, 11, 72, 73, 74, 96, 97, 104, 107, 108, 109, 110}
    assert renamed.new_line_text(104) == "def main():"
    assert renamed.new_line_text(105) == '    """Pretty-print the bug information as JSON."""'


def test_mode_change_only() -> None:
    (setup,) = diff_of("08-mode-change-only")
    assert setup.status is FileStatus.CHANGED
    assert setup.hunks == [] and setup.patch_missing == "no_textual_change"
    assert not setup.is_binary


def test_mode_changes_mixed_with_an_edit() -> None:
    files = by_path(diff_of("09-mode-change-mixed"))
    for path in ("AUTHORS.rst", "requests/sessions.py", "tests/test_lowlevel.py"):
        assert files[path].status is FileStatus.CHANGED
        assert files[path].commentable_lines() == frozenset()
    edited = files["tests/test_requests.py"]
    assert edited.status is FileStatus.MODIFIED
    assert edited.added_lines() == frozenset()
    assert edited.commentable_lines() == {1, 2, 3}
    assert edited.commentable_old_lines() == {1, 2, 3, 4}
    assert edited.new_line_text(1) == "# -*- coding: utf-8 -*-"


def test_binary_files() -> None:
    files = by_path(diff_of("10-binary-mixed"))
    api = by_path([diff_file_from_github(item) for item in items_of("10-binary-mixed")])
    for path, status in (("ext/flourish.jpg", "removed"), ("ext/flower-of-life.jpg", "modified")):
        assert files[path].is_binary
        assert files[path].status == status == api[path].status
        assert files[path].hunks == api[path].hunks == []
        assert files[path].patch_missing == api[path].patch_missing == "no_textual_change"
    # GitHub's item proves binary only for a modified file; a removed one could be empty.
    assert api["ext/flower-of-life.jpg"].is_binary
    assert not api["ext/flourish.jpg"].is_binary
    assert not files["README.md"].is_binary and not api["README.md"].is_binary
    assert files["ext/LICENSE"].added_lines() == {1}


def test_added_empty_and_binary_files() -> None:
    files = by_path(diff_of("11-added-empty-and-binary-files"))
    swap, empty = files["tests/testserver/.server.py.swo"], files["tests/testserver/__init__.py"]
    assert swap.status is empty.status is FileStatus.ADDED
    assert swap.is_binary and not empty.is_binary
    assert swap.hunks == empty.hunks == []
    assert empty.patch_missing == "no_textual_change"
    assert files["tests/testserver/server.py"].added_lines() == set(range(1, 108))


def test_very_large_diff_parses_fast() -> None:
    text = read_text("12-very-large-diff.diff")
    assert len(text.encode("utf-8")) > 500_000
    started = time.perf_counter()
    (cacert,) = parse_unified_diff(text)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"parsing took {elapsed:.2f}s"
    assert (cacert.additions, cacert.deletions) == (4914, 3238)
    (hunk,) = cacert.hunks
    assert (hunk.old_start, hunk.old_count, hunk.new_start, hunk.new_count) == (1, 3290, 1, 4966)
    assert cacert.commentable_lines() == set(range(1, 4967))
    (item,) = items_of("12-very-large-diff")
    from_api = diff_file_from_github(item)
    assert from_api.patch_missing == "too_large"
    assert from_api.hunks == [] and from_api.commentable_lines() == frozenset()
    assert (from_api.additions, from_api.deletions) == (4914, 3238)


def test_non_ascii_lines() -> None:
    (tests,) = diff_of("13-non-ascii-content")
    assert tests.added_lines() == set(range(1891, 1928))
    assert tests.new_line_text(1898) == (
        "            (u'http://ジェーピーニック.jp', u'http://xn--hckqz9bzb1cyrb.jp/'),"
    )
    files = by_path(diff_of("03-multi-file-modified-nonascii"))
    texts = [ln.text for h in files["tests/test_requests.py"].hunks for ln in h.lines]
    assert any("multi-byte UTF-8 \u2603\ufe0f" in text for text in texts)


def test_no_newline_at_eof_on_both_sides() -> None:
    files = by_path(diff_of("14-no-newline-at-eof"))
    (hunk,) = files["pytest.ini"].hunks
    assert hunk.old_no_newline_at_eof and hunk.new_no_newline_at_eof
    assert [(ln.kind, ln.old_line, ln.new_line) for ln in hunk.lines] == [
        (LineKind.CONTEXT, 1, 1),
        (LineKind.REMOVED, 2, None),
        (LineKind.ADDED, None, 2),
        (LineKind.ADDED, None, 3),
    ]
    assert files["pytest.ini"].new_line_text(3) == (
        "doctest_optionflags= NORMALIZE_WHITESPACE ELLIPSIS"
    )
    (other,) = files["requests/__init__.py"].hunks
    assert not other.old_no_newline_at_eof and not other.new_no_newline_at_eof


def test_newline_added_at_eof_marks_only_the_old_side() -> None:
    (packages,) = diff_of("15-newline-added-at-eof")
    (hunk,) = packages.hunks
    assert hunk.old_no_newline_at_eof and not hunk.new_no_newline_at_eof
    removed, added = hunk.lines[-2:]
    assert (removed.kind, removed.old_line, added.kind, added.new_line) == (
        LineKind.REMOVED,
        30,
        LineKind.ADDED,
        30,
    )
    assert removed.text == added.text == "# Kinda cool, though, right?"
    assert packages.added_lines() == {30}


def test_crlf_lines() -> None:
    raw = (FIXTURES / "16-crlf-line-endings.diff").read_bytes()
    assert b"\r\n" in raw, "fixture 16 lost its CRLF line endings (check .gitattributes)"
    (report,) = diff_of("16-crlf-line-endings")
    lines = [ln for h in report.hunks for ln in h.lines]
    assert all(ln.crlf for ln in lines)
    assert not any(ln.text.endswith("\r") for ln in lines)
    assert report.hunks[0].section == "about: Create a report to help us improve"
    assert report.new_line_text(7) == "<!-- Summary. -->"
    assert report.added_lines() == {7, 11, 15, 28, 29, 30, 31, 34, 36}


def test_symlinks_are_one_line_files_of_their_target() -> None:
    # As GitHub's files API shows them too: it carries no file mode.
    files = by_path(diff_of("17-symlinks-and-many-new-files"))
    for path, target in (
        ("tests/certs/mtls/client/ca", "../../expired/ca/"),
        ("tests/certs/valid/ca", "../expired/ca"),
    ):
        link = files[path]
        assert link.status is FileStatus.ADDED
        assert link.added_lines() == {1} and link.new_line_text(1) == target
        assert link.hunks[0].new_no_newline_at_eof


def test_quoted_and_spaced_paths() -> None:
    files = by_path(parse_unified_diff(read_text("local-git-quoted-paths.diff")))
    assert set(files) == {
        "café.txt",
        "données.bin",
        "mode only.sh",
        "new name.txt",
        "nouveau é.txt",
        'say "hi".txt',
        "tab\there.txt",
        "vide é.txt",
        "with space.txt",
    }
    assert files["new name.txt"].previous_path == "old name.txt"
    assert files["nouveau é.txt"].previous_path == "ancien é.txt"
    assert files["nouveau é.txt"].added_lines() == {10}
    assert files["with space.txt"].new_line_text(2) == "TWO"
    assert files["café.txt"].new_line_text(2) == "thé"
    assert files["mode only.sh"].status is FileStatus.CHANGED
    assert files["données.bin"].is_binary and files["données.bin"].status is FileStatus.ADDED
    assert files["tab\there.txt"].new_line_text(1) == "a\tb"


def test_round_trips_through_json() -> None:
    for diff_file in diff_of("17-symlinks-and-many-new-files") + diff_of("16-crlf-line-endings"):
        assert DiffFile.model_validate_json(diff_file.model_dump_json()) == diff_file


# --- hand-written patches: the rules at their edges ------------------------------------------


def test_omitted_counts_mean_one() -> None:
    (hunk,) = parse_patch("@@ -1 +1 @@\n-old\n+new")
    assert (hunk.old_start, hunk.old_count, hunk.new_start, hunk.new_count) == (1, 1, 1, 1)
    assert hunk.section == ""
    assert [(ln.kind, ln.old_line, ln.new_line, ln.text) for ln in hunk.lines] == [
        (LineKind.REMOVED, 1, None, "old"),
        (LineKind.ADDED, None, 1, "new"),
    ]


def test_final_newline_is_optional() -> None:
    with_newline = parse_patch("@@ -3,2 +3,2 @@ f\n a\n-b\n+c\n")
    assert with_newline == parse_patch("@@ -3,2 +3,2 @@ f\n a\n-b\n+c")
    assert [ln.new_line for ln in with_newline[0].lines] == [3, None, 4]


def test_lines_that_look_like_headers_inside_a_hunk() -> None:
    (hunk,) = parse_patch("@@ -1 +1 @@\n--- a\n+++ b")
    assert [(ln.kind, ln.text) for ln in hunk.lines] == [
        (LineKind.REMOVED, "-- a"),
        (LineKind.ADDED, "++ b"),
    ]


def test_short_hunk_is_an_error() -> None:
    with pytest.raises(DiffParseError) as caught:
        parse_patch("@@ -1,3 +1,3 @@\n a\n-b\n+c", path="src/x.py")
    assert caught.value.path == "src/x.py"
    assert "short" in str(caught.value) and "1 old and 1 new" in str(caught.value)


def test_short_hunk_before_the_next_hunk_is_an_error() -> None:
    with pytest.raises(DiffParseError) as caught:
        parse_patch("@@ -1,3 +1,3 @@\n a\n b\n@@ -9 +9 @@\n-x\n+y", path="src/x.py")
    assert caught.value.line_number == 4
    assert "short" in str(caught.value)


def test_long_hunk_is_an_error() -> None:
    with pytest.raises(DiffParseError) as caught:
        parse_patch("@@ -1 +1,2 @@\n a\n+b\n+c", path="src/x.py")
    assert caught.value.line_number == 4
    assert "longer than its header" in str(caught.value)


def test_long_hunk_in_a_git_diff_is_an_error() -> None:
    text = "diff --git a/x b/x\nindex 1..2 100644\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n+c\n"
    with pytest.raises(DiffParseError) as caught:
        parse_unified_diff(text)
    assert (caught.value.path, caught.value.line_number) == ("x", 8)


@pytest.mark.parametrize(
    ("patch", "problem"),
    [
        pytest.param("@@ -1 +1,2 @@\n-a\n-b\n+c", "removed line beyond", id="side-overflow"),
        pytest.param("@@ -1,3 +1,3 @@\n a\n\n c", "single space", id="empty-line-in-hunk"),
        pytest.param(
            "@@ -1,2 +1,2 @@\n-a\n\\ No newline at end of file\n-b\n+a\n+b",
            "No newline",
            id="line-after-no-newline-marker",
        ),
    ],
)
def test_malformed_hunk_bodies_are_errors(patch: str, problem: str) -> None:
    with pytest.raises(DiffParseError, match=problem):
        parse_patch(patch)


def test_malformed_header_and_garbage_are_errors() -> None:
    with pytest.raises(DiffParseError, match="malformed hunk header"):
        parse_patch("@@ -1,x +1 @@\n a")
    with pytest.raises(DiffParseError, match="expected a hunk header"):
        parse_patch("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b")
    with pytest.raises(DiffParseError, match="starts at line 0"):
        parse_patch("@@ -0,1 +1 @@\n a")
    with pytest.raises(DiffParseError, match="overlaps"):
        parse_patch("@@ -5 +5 @@\n a\n@@ -1 +1 @@\n b")


def test_empty_patch_and_empty_diff() -> None:
    assert parse_patch("") == []
    assert parse_unified_diff("") == []


def test_github_item_validation() -> None:
    with pytest.raises(DiffParseError, match="unknown file status"):
        diff_file_from_github(
            {"filename": "a.py", "status": "moved", "additions": 0, "deletions": 0}
        )
    with pytest.raises(DiffParseError, match="filename"):
        diff_file_from_github({"status": "added", "additions": 0, "deletions": 0})
    with pytest.raises(DiffParseError) as caught:
        diff_file_from_github(
            {
                "filename": "a.py",
                "status": "modified",
                "additions": 1,
                "deletions": 0,
                "changes": 1,
                "patch": "@@ -1 +1,2 @@\n a",
            }
        )
    assert caught.value.path == "a.py"


def test_unquoted_header_names_holding_a_b_slash() -> None:
    # git 2.39.5 output for a mode-only change of "x b/y.sh": only the header names the file.
    (diff_file,) = parse_unified_diff(
        "diff --git a/x b/y.sh b/x b/y.sh\nold mode 100644\nnew mode 100755\n"
    )
    assert diff_file.path == "x b/y.sh"
    assert diff_file.status is FileStatus.CHANGED


def test_git_binary_patch_is_skipped() -> None:
    # `git show --binary` output (git 2.39.5): the base85 blob is not mistaken for hunks.
    text = (
        'diff --git "a/donn\\303\\251es.bin" "b/donn\\303\\251es.bin"\n'
        "new file mode 100644\n"
        "index 0000000000000000000000000000000000000000..0f49c4ae77b43dff338093c78e009676e7e308ba\n"
        "GIT binary patch\nliteral 9\nQcmZQzWJ=1+ODw7c00^)Gi2wiq\n\nliteral 0\nHcmV?d00001\n\n"
        "diff --git a/with space.txt b/with space.txt\n"
        "index 4cb29ea..ddc897f 100644\n"
        "--- a/with space.txt\t\n+++ b/with space.txt\t\n"
        "@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n"
    )
    binary, text_file = parse_unified_diff(text)
    assert (binary.path, binary.is_binary, binary.hunks) == ("données.bin", True, [])
    assert (text_file.path, text_file.added_lines()) == ("with space.txt", {2})


def test_whole_diff_with_crlf_line_ends() -> None:
    lf = read_text("01-simple-edit-single-hunk.diff")
    (crlf,) = parse_unified_diff(lf.replace("\n", "\r\n"))
    (plain,) = parse_unified_diff(lf)
    assert crlf.path == plain.path
    assert crlf.hunks[0].section == plain.hunks[0].section
    assert crlf.new_line_text(239) == plain.new_line_text(239)
    assert crlf.commentable_lines() == plain.commentable_lines()


# --- the compact form: two strings per hunk, line views on demand ----------------------------


@pytest.mark.parametrize("entry", [e for e in MANIFEST if "files" in e], ids=lambda e: e["id"])
def test_hunks_rebuilt_from_their_line_views_are_equal(entry: dict[str, Any]) -> None:
    for diff_file in diff_of(entry["id"]):
        for hunk in diff_file.hunks:
            fields = hunk.model_dump(exclude={"kinds", "body"})
            assert Hunk(**fields, lines=hunk.lines) == hunk
            new_side = [(ln.new_line, ln.text) for ln in hunk.lines if ln.new_line is not None]
            assert list(hunk.new_side()) == new_side


def test_line_sets_match_the_line_views() -> None:
    for diff_file in diff_of("12-very-large-diff"):
        lines = [ln for hunk in diff_file.hunks for ln in hunk.lines]
        added = {ln.new_line for ln in lines if ln.kind is LineKind.ADDED}
        assert diff_file.added_lines() == added
        assert diff_file.commentable_lines() == {ln.new_line for ln in lines if ln.new_line}
        assert diff_file.commentable_old_lines() == {ln.old_line for ln in lines if ln.old_line}
        for line in lines[:50]:
            if line.new_line is not None:
                assert diff_file.new_line_text(line.new_line) == line.text


def test_a_hunk_whose_kinds_and_texts_disagree_is_refused() -> None:
    fields = {"old_start": 1, "old_count": 1, "new_start": 1, "new_count": 2, "section": ""}
    with pytest.raises(ValueError, match="2 line kinds but 1 lines"):
        Hunk(**fields, kinds=" +", body="only one line")
    with pytest.raises(ValueError, match="must be"):
        Hunk(**fields, kinds=" x", body="a\nb")


def test_a_parsed_diff_estimates_its_memory_from_its_text() -> None:
    files = diff_of("12-very-large-diff")
    text = sum(len(hunk.body) for diff_file in files for hunk in diff_file.hunks)
    estimate = sum(diff_file.approx_bytes() for diff_file in files)
    assert text < estimate < text * 2
