# --- Unit tests: which files are skipped, gitignore-style globs, token-budgeted chunks ---
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prsaga.review.chunking import (
    Chunk,
    ChunkItem,
    chunk_files,
    generated_reason,
    glob_match,
    is_skipped_path,
    match_globs,
    select,
)
from prsaga.review.diff import (
    DiffFile,
    DiffLine,
    FileStatus,
    Hunk,
    LineKind,
    diff_file_from_github,
    parse_patch,
)
from prsaga.review.diff_render import (
    estimate_tokens,
    file_header,
    render_chunk,
    render_file,
    render_hunk,
)
from tests.paths import TESTS_DIR

FIXTURES = TESTS_DIR / "fixtures" / "diffs"


def github_files(name: str) -> list[DiffFile]:
    items = json.loads((FIXTURES / f"{name}.pr-files.json").read_text())
    return [diff_file_from_github(item) for item in items]


def added_file(path: str, patch: str) -> DiffFile:
    hunks = parse_patch(patch, path=path)
    added = sum(line.kind is LineKind.ADDED for hunk in hunks for line in hunk.lines)
    return DiffFile(path=path, status=FileStatus.ADDED, additions=added, deletions=0, hunks=hunks)


def synthetic_file(path: str, hunk_lines: list[int], width: int = 20) -> DiffFile:
    """A file whose hunks hold the given numbers of added lines, 10 lines apart."""
    hunks = []
    start = 1
    for count in hunk_lines:
        lines = [
            DiffLine(kind=LineKind.ADDED, old_line=None, new_line=start + i, text="x" * width)
            for i in range(count)
        ]
        hunks.append(
            Hunk(
                old_start=start,
                old_count=0,
                new_start=start,
                new_count=count,
                section="",
                lines=lines,
            )
        )
        start += count + 10
    return DiffFile(
        path=path, status=FileStatus.MODIFIED, additions=sum(hunk_lines), deletions=0, hunks=hunks
    )


# --- skipped paths -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("package-lock.json", "lock file"),
        ("frontend/yarn.lock", "lock file"),
        ("poetry.lock", "lock file"),
        ("uv.lock", "lock file"),
        ("rust/Cargo.lock", "lock file"),
        ("go.sum", "lock file"),
        ("vendor/github.com/pkg/errors/errors.go", "vendored dependency (vendor/)"),
        ("web/node_modules/left-pad/index.js", "vendored dependency (node_modules/)"),
        ("src/third_party/zlib/inflate.c", "vendored dependency (third_party/)"),
        ("packages/ui/dist/index.js", "build output (dist/)"),
        ("api/v1/service_pb2.py", "generated file (protobuf)"),
        ("api/v1/service_pb2_grpc.py", "generated file (protobuf)"),
        ("api/service.pb.go", "generated file (protobuf)"),
        ("static/js/app.min.js", "minified file"),
        ("static/js/app.js.map", "source map"),
        ("pkg/apis/v1/zz_generated.deepcopy.go", "generated file (Kubernetes code generation)"),
    ],
)
def test_generated_vendored_and_lock_files_are_skipped(path, reason):
    assert is_skipped_path(path) == reason


@pytest.mark.parametrize(
    "path",
    [
        "src/requests/adapters.py",
        "README.md",
        "src/vendor_utils.py",  # a name containing "vendor" is not a vendor/ directory
        "docs/distribution.md",
        "src/lockfile.py",
        "requirements.lock.txt",
        "maps/world.map",  # not a source map
        "src/app/generated_report.py",
        "lib/minify.js",
        "tests/test_pb2_compat.py",
    ],
)
def test_ordinary_files_are_not_skipped(path):
    assert is_skipped_path(path) is None


def test_configured_ignore_globs_skip_and_negation_re_includes():
    ignore = ["fixtures/**", "*.snap", "docs/", "!docs/keep.md"]
    assert is_skipped_path("fixtures/a/b.json", ignore) == "ignored by configuration (fixtures/**)"
    assert is_skipped_path("ui/__snapshots__/button.test.js.snap", ignore) == (
        "ignored by configuration (*.snap)"
    )
    assert is_skipped_path("docs/guide.md", ignore) == "ignored by configuration (docs/)"
    assert is_skipped_path("docs/keep.md", ignore) is None
    # "fixtures/**" has a slash, so it is anchored at the root, as in .gitignore.
    assert is_skipped_path("tests/fixtures/a.json", ignore) is None


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.md", "README.md", True),
        ("*.md", "docs/deep/guide.md", True),  # no slash: any depth
        ("*.md", "docs/guide.mdx", False),
        ("docs/*.md", "docs/guide.md", True),
        ("docs/*.md", "docs/deep/guide.md", False),  # "*" stops at "/"
        ("docs/*.md", "site/docs/guide.md", False),  # a slash anchors at the root
        ("/setup.py", "setup.py", True),
        ("/setup.py", "pkg/setup.py", False),
        ("build", "build/lib/x.py", True),  # a directory name matches its contents
        ("build", "src/build/x.py", True),
        ("build", "src/builder.py", False),
        ("fixtures/", "tests/fixtures/a.json", True),
        ("fixtures/", "fixtures", False),  # a trailing slash matches directories only
        ("src/**/*.py", "src/a.py", True),  # "**/" also matches no directory
        ("src/**/*.py", "src/a/b/c.py", True),
        ("src/**/*.py", "lib/src/a.py", False),
        ("**/test_*.py", "test_a.py", True),
        ("**/test_*.py", "pkg/tests/test_a.py", True),
        ("docs/**", "docs/a/b.md", True),
        ("file?.txt", "file1.txt", True),
        ("file?.txt", "file10.txt", False),
        ("[abc].py", "b.py", True),
        ("[!abc].py", "b.py", False),
        ("[!abc].py", "d.py", True),
        ("a+b(c).py", "a+b(c).py", True),  # regex characters are literal
        ("a+b(c).py", "aab(c).py", False),
    ],
)
def test_glob_semantics_follow_gitignore(pattern, path, matches):
    assert glob_match(pattern, path) is matches


def test_last_matching_glob_decides():
    patterns = ["*.py", "!tests/*.py", "tests/conftest.py"]
    assert match_globs("src/a.py", patterns) == "*.py"
    assert match_globs("tests/test_a.py", patterns) is None
    assert match_globs("tests/conftest.py", patterns) == "tests/conftest.py"
    assert match_globs("README.md", patterns) is None


def test_generator_headers_mark_a_file_generated_only_at_its_top():
    go = added_file(
        "api/client.go",
        "@@ -0,0 +1,3 @@\n+// Code generated by protoc-gen-go. DO NOT EDIT.\n+package api\n+",
    )
    meta = added_file("lib/schema.js", "@@ -0,0 +1,2 @@\n+/* @generated SignedSource<<abc>> */\n+x")
    deep = added_file(
        "tools/gen.py",
        "@@ -0,0 +1,7 @@\n" + "+import os\n" * 6 + "+# Code generated files carry DO NOT EDIT\n",
    )
    prose = added_file(
        "docs/build.md", "@@ -0,0 +1,1 @@\n+The API docs are generated from the schema."
    )
    assert generated_reason(go) == "generated file (header)"
    assert generated_reason(meta) == "generated file (header)"
    assert generated_reason(deep) is None
    assert generated_reason(prose) is None


# --- chunks -------------------------------------------------------------------------------------


FIXTURE_NAMES = sorted(
    path.name.removesuffix(".pr-files.json") for path in FIXTURES.glob("*.pr-files.json")
)


def test_small_files_are_packed_whole_in_order_within_the_budget():
    files = github_files("17-symlinks-and-many-new-files")
    with_hunks = [f.path for f in files if f.hunks]
    # Every file fits (with the newline that joins it to the next).
    budget = max(estimate_tokens(render_file(f) + "\n") for f in files if f.hunks)
    chunks = chunk_files(files, budget)
    assert 1 < len(chunks) < len(with_hunks)
    assert all(chunk.tokens <= budget and not chunk.truncated for chunk in chunks)
    assert [item.path for chunk in chunks for item in chunk.items] == with_hunks
    assert all(item.hunks is None for chunk in chunks for item in chunk.items)
    for chunk in chunks:
        assert estimate_tokens(render_chunk(select(files, chunk))) <= chunk.tokens
    assert chunk_files(files, budget) == chunks  # deterministic


@pytest.mark.parametrize("name", FIXTURE_NAMES)
@pytest.mark.parametrize("budget", [60, 400, 5_000])
def test_chunk_sizes_bound_the_text_the_model_is_sent(name, budget):
    files = github_files(name)
    for chunk in chunk_files(files, budget):
        sent = render_chunk(select(files, chunk), chunk.tokens if chunk.truncated else None)
        assert estimate_tokens(sent) <= chunk.tokens <= budget


def test_files_without_hunks_have_nothing_to_chunk():
    files = github_files("10-binary-mixed") + github_files("12-very-large-diff")
    chunks = chunk_files(files, 10_000)
    paths = [item.path for chunk in chunks for item in chunk.items]
    assert paths == ["README.md", "ext/LICENSE"]  # the images and the too-large file have no patch


def test_a_file_over_the_budget_is_split_between_hunks():
    [adapters] = github_files("02-multi-hunk-single-file")
    whole = estimate_tokens(render_file(adapters) + "\n")
    budget = whole // 2
    chunks = chunk_files([adapters], budget)
    assert len(chunks) >= 2
    indices = [i for chunk in chunks for item in chunk.items for i in item.hunks or []]
    assert indices == list(range(len(adapters.hunks)))  # every hunk once, in order
    for chunk in chunks:
        assert chunk.tokens <= budget
        [selected] = select([adapters], chunk)
        assert selected.path == adapters.path
        assert selected.commentable_lines() <= adapters.commentable_lines()
        # Each part repeats the file header so the reviewer knows which file it reads.
        assert render_chunk([selected]).startswith(file_header(adapters) + "\n@@ ")


def test_a_hunk_over_the_budget_is_its_own_truncated_chunk():
    small = synthetic_file("a.py", [2])
    huge = synthetic_file("b.py", [3, 400, 3])
    chunks = chunk_files([small, huge], 500)
    truncated = [chunk for chunk in chunks if chunk.truncated]
    assert [c.items for c in truncated] == [[ChunkItem(path="b.py", hunks=[1])]]
    assert truncated[0].tokens == 500
    full = render_chunk(select([small, huge], truncated[0]))
    assert estimate_tokens(full) > 500  # what the budget protects the request from
    text = render_chunk(select([small, huge], truncated[0]), truncated[0].tokens)
    assert estimate_tokens(text) <= 500
    *kept, note = text.split("\n")
    full_lines = full.split("\n")
    assert kept == full_lines[: len(kept)]  # cut at a line boundary
    cut = len(full_lines) - len(kept)
    assert note == f"({cut} more lines not shown: over the token budget)"
    one_more = [*full_lines[: len(kept) + 1], note.replace(f"({cut} ", f"({cut - 1} ")]
    assert estimate_tokens("\n".join(one_more)) > 500  # as many lines as fit
    # The hunks around it are still reviewed, in other chunks.
    reviewed = [(i.path, i.hunks) for c in chunks if not c.truncated for i in c.items]
    assert reviewed == [("a.py", None), ("b.py", [0]), ("b.py", [2])]


def test_select_rebuilds_only_the_listed_hunks_and_refuses_unknown_paths():
    [adapters] = github_files("02-multi-hunk-single-file")
    chunk = Chunk(items=[ChunkItem(path=adapters.path, hunks=[1, 3])], tokens=1)
    [selected] = select({adapters.path: adapters}, chunk)
    assert selected.hunks == [adapters.hunks[1], adapters.hunks[3]]
    assert render_file(selected) == "\n".join(
        [file_header(adapters), render_hunk(adapters.hunks[1]), render_hunk(adapters.hunks[3])]
    )
    with pytest.raises(KeyError, match="nope.py"):
        select([adapters], Chunk(items=[ChunkItem(path="nope.py")], tokens=1))


def test_chunks_survive_a_json_round_trip():
    files = github_files("03-multi-file-modified-nonascii")
    chunks = chunk_files(files, 400)
    assert [Chunk.model_validate_json(c.model_dump_json()) for c in chunks] == chunks


def test_rendered_hunks_carry_new_file_line_numbers():
    [utils] = github_files("01-simple-edit-single-hunk")
    hunk = utils.hunks[0]
    header, *body = render_hunk(hunk).split("\n")
    assert header.startswith(f"@@ -{hunk.old_start},{hunk.old_count} +{hunk.new_start},")
    width = len(str(hunk.new_start + hunk.new_count))
    for line, text in zip(hunk.lines, body, strict=True):
        number = text[:width].strip()
        assert number == (str(line.new_line) if line.new_line is not None else "")
        marker = {"added": "+", "removed": "-", "context": " "}[line.kind]
        assert text[width:] == f" {marker} {line.text}"


def test_tokens_are_estimated_pessimistically_at_three_characters():
    assert [estimate_tokens("x" * n) for n in (0, 1, 3, 4, 300)] == [0, 1, 1, 2, 100]


def test_budget_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        chunk_files([], 0)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(
        st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=6), max_size=8
    ),
    budget=st.integers(min_value=50, max_value=600),
)
def test_chunking_invariants(sizes, budget):
    files = [synthetic_file(f"f{i}.py", hunks) for i, hunks in enumerate(sizes)]
    chunks = chunk_files(files, budget, len)
    covered: list[tuple[str, int]] = []
    for chunk in chunks:
        assert chunk.items
        assert chunk.tokens <= budget
        if chunk.truncated:
            assert len(chunk.items) == 1 and len(chunk.items[0].hunks or []) == 1
        else:
            # Counted in characters, a chunk's size is exactly the text sent (plus the newline
            # that would join it to the next): what is measured is what the model gets.
            assert chunk.tokens == len(render_chunk(select(files, chunk))) + 1
        for item in chunk.items:
            count = len(next(f for f in files if f.path == item.path).hunks)
            covered += [(item.path, i) for i in (item.hunks or range(count))]
    expected = [(f.path, i) for f in files for i in range(len(f.hunks))]
    assert covered == expected  # every hunk exactly once, in order
