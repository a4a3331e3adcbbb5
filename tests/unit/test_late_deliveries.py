# --- Late deliveries: only a delivery about a really newer head supersedes a review ---
"""GitHub does not deliver in order. ``admit_event`` decides from evidence (the head GitHub
reported at the latest parse and its ``updated_at``, the deliveries' ``updated_at``, the
reviewed and retired heads) whether a delivery queues a review, supersedes the one in flight, or
is late. The property tests replay realistic pull-request timelines (pushes, labels, ready for
review, reopen, redeliveries) whose deliveries arrive in any order, interleaved with the
reviews' progress, through a model of the workflow built on the same pure functions."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prsaga.review.lifecycle import (
    Admission,
    HeadEvidence,
    admit_event,
    newer,
    retire,
)
from prsaga.schema import PullRequestEvent

EPOCH = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count()


def sha(head: int) -> str:
    return f"{head + 1:040x}"


def at(second: int) -> datetime:
    return EPOCH + timedelta(seconds=second)


def event(action: str, head: int | None, second: int | None = None) -> PullRequestEvent:
    return PullRequestEvent(
        delivery_id=f"d-{next(_ids)}",
        action=action,  # type: ignore[arg-type]
        head_sha=None if head is None else sha(head),
        sender="author",
        updated_at=None if second is None else at(second),
    )


def evidence(**known: object) -> HeadEvidence:
    values: dict[str, object] = {
        "reviewing_head": None,
        "current_head": None,
        "current_update": None,
        "reviewed_heads": [],
        "retired_heads": [],
        "newest_update": None,
    }
    return HeadEvidence(**{**values, **known})  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# The decision, case by case


def test_a_push_newer_than_the_review_in_flight_supersedes_it():
    known = evidence(reviewing_head=sha(1), current_head=sha(1), newest_update=at(10))
    assert admit_event(event("synchronize", 2, 20), known) == Admission.SUPERSEDE


@pytest.mark.parametrize("action", ["synchronize", "labeled", "ready_for_review", "reopened"])
def test_a_late_delivery_about_an_older_head_never_supersedes(action: str):
    known = evidence(
        reviewing_head=sha(2),
        current_head=sha(2),
        current_update=at(20),
        newest_update=at(20),
    )
    assert admit_event(event(action, 1, 10), known) == Admission.IGNORE


@pytest.mark.parametrize("action", ["synchronize", "labeled"])
def test_without_timestamps_a_retired_or_reviewed_head_is_late(action: str):
    known = evidence(reviewing_head=sha(3), current_head=sha(3), retired_heads=[sha(1)])
    assert admit_event(event(action, 1), known) == Admission.IGNORE
    known = evidence(reviewing_head=sha(3), current_head=sha(3), reviewed_heads=[sha(2)])
    assert admit_event(event(action, 2), known) == Admission.IGNORE


def test_an_unknown_head_without_timestamps_is_taken_as_newer():
    """Nothing says it is older: reviewing it costs a review, ignoring it could miss a push."""
    known = evidence(reviewing_head=sha(1), current_head=sha(1), retired_heads=[sha(0)])
    assert admit_event(event("synchronize", 2), known) == Admission.SUPERSEDE


def test_equal_timestamps_fall_back_to_the_heads():
    """GitHub's ``updated_at`` counts seconds: two pushes in one second tie."""
    known = evidence(
        reviewing_head=sha(2), current_head=sha(2), retired_heads=[sha(1)], newest_update=at(5)
    )
    assert admit_event(event("synchronize", 1, 5), known) == Admission.IGNORE
    assert admit_event(event("synchronize", 3, 5), known) == Admission.SUPERSEDE


def test_a_force_push_back_to_a_retired_head_is_newer_by_its_timestamp():
    known = evidence(current_head=sha(2), retired_heads=[sha(1)], newest_update=at(20))
    assert admit_event(event("synchronize", 1, 30), known) == Admission.QUEUE


def test_the_head_github_reported_last_is_never_late():
    """A delivery about the current head may carry an older ``updated_at`` (a comment bumped it
    since): it is not about an older head."""
    known = evidence(current_head=sha(2), current_update=at(40), newest_update=at(40))
    assert admit_event(event("ready_for_review", 2, 30), known) == Admission.QUEUE


def test_a_label_the_review_already_saw_does_not_review_again():
    known = evidence(
        current_head=sha(2), current_update=at(40), reviewed_heads=[sha(2)], newest_update=at(40)
    )
    assert admit_event(event("labeled", 2, 30), known) == Admission.IGNORE
    assert admit_event(event("labeled", 2, 40), known) == Admission.IGNORE
    # A label added after the review's parse routes specialists: the head is reviewed again.
    assert admit_event(event("labeled", 2, 50), known) == Admission.QUEUE


def test_a_label_on_the_head_under_review_waits_for_it_instead_of_superseding_it():
    known = evidence(reviewing_head=sha(2), current_head=sha(2), current_update=at(40))
    assert admit_event(event("labeled", 2, 50), known) == Admission.QUEUE


def test_requests_without_a_head_are_queued_and_reviewed_heads_are_not_reviewed_again():
    known = evidence(reviewing_head=sha(2), current_head=sha(2), reviewed_heads=[sha(1)])
    assert admit_event(event("review", None), known) == Admission.QUEUE
    idle = evidence(current_head=sha(1), reviewed_heads=[sha(1)])
    assert admit_event(event("synchronize", 1), idle) == Admission.IGNORE


def test_retired_heads_are_bounded_and_a_head_pushed_again_is_current():
    assert retire([], None, sha(0), 3) == []
    assert retire([sha(0)], sha(1), sha(2), 3) == [sha(0), sha(1)]
    assert retire([sha(0), sha(1)], sha(2), sha(1), 3) == [sha(0), sha(2)]
    assert retire([sha(0), sha(1), sha(2)], sha(3), sha(4), 3) == [sha(1), sha(2), sha(3)]


def test_the_newest_update_only_moves_forward():
    assert newer(None, at(3)) == at(3)
    assert newer(at(3), None) == at(3)
    assert newer(at(3), at(1)) == at(3)
    assert newer(at(3), at(9)) == at(9)


# ------------------------------------------------------------------------------------------------
# Properties over shuffled deliveries


@dataclass(frozen=True)
class Change:
    """Something that happened to the pull request on GitHub, and its delivery."""

    action: str
    head: int
    second: int


@dataclass
class Model:
    """The workflow's admission and review progress, on the same pure functions: a review
    parses (GitHub's head now), then plans (the head is under review), then completes."""

    github_head: int = 0
    github_second: int = 0
    pending: PullRequestEvent | None = None
    phase: str | None = None
    """``None`` (idle), "parsed" or "analyzing"."""
    parsed: int | None = None
    current_head: str | None = None
    current_update: datetime | None = None
    newest_update: datetime | None = None
    retired: list[str] = field(default_factory=list)
    reviewed: list[str] = field(default_factory=list)
    supersedes: list[tuple[int, int]] = field(default_factory=list)
    """(head of the delivery, head under review) for each supersede."""
    completed: list[int] = field(default_factory=list)

    def reviewing(self) -> str | None:
        return sha(self.parsed) if self.phase == "analyzing" and self.parsed is not None else None

    def deliver(self, change: Change) -> None:
        delivered = event(change.action, change.head, change.second)
        known = HeadEvidence(
            reviewing_head=self.reviewing(),
            current_head=self.current_head,
            current_update=self.current_update,
            reviewed_heads=self.reviewed,
            retired_heads=self.retired,
            newest_update=self.newest_update,
        )
        admission = admit_event(delivered, known)
        self.newest_update = newer(self.newest_update, delivered.updated_at)
        if admission == Admission.IGNORE:
            return
        self.pending = delivered
        if admission == Admission.SUPERSEDE:
            assert self.parsed is not None
            self.supersedes.append((change.head, self.parsed))
            self.phase = None

    def busy(self) -> bool:
        return self.pending is not None or self.phase is not None

    def step(self) -> None:
        if self.phase is None:
            assert self.pending is not None
            request, self.pending = self.pending, None
            head = sha(self.github_head)
            self.retired = retire(self.retired, self.current_head, head, 100)
            self.current_head, self.current_update = head, at(self.github_second)
            self.newest_update = newer(self.newest_update, self.current_update)
            manual = request.action in ("review", "labeled")
            if head in self.reviewed and not manual:
                return  # nothing to review at this head
            self.phase, self.parsed = "parsed", self.github_head
        elif self.phase == "parsed":
            self.phase = "analyzing"
        else:
            assert self.parsed is not None
            self.reviewed = [*(s for s in self.reviewed if s != sha(self.parsed)), sha(self.parsed)]
            self.completed.append(self.parsed)
            self.phase = None


@st.composite
def timelines(draw: st.DrawFn, *, labels_on_the_last_head: bool) -> list[Change]:
    """Opened, then 1-4 pushes, with labels, ready-for-review and reopen in between; every
    change a second or more after the previous one (GitHub counts seconds)."""
    pushes = draw(st.integers(1, 4))
    second = 0
    changes = [Change("opened", 0, second)]
    for head in range(pushes + 1):
        if head:
            second += draw(st.integers(1, 20))
            changes.append(Change("synchronize", head, second))
        extras = ["ready_for_review", "reopened"]
        if head < pushes or labels_on_the_last_head:
            extras.append("labeled")
        for action in draw(st.lists(st.sampled_from(extras), max_size=2)):
            second += draw(st.integers(1, 20))
            changes.append(Change(action, head, second))
    return changes


def play(data: st.DataObject, changes: list[Change]) -> Model:
    """Changes happen in order; each is delivered (some twice, under new delivery ids) at any
    later point, in any order, while reviews progress at any pace."""
    model = Model()
    deliveries = [c for c in changes for _ in range(data.draw(st.integers(1, 2)))]
    happened, undelivered = 0, []
    while happened < len(changes) or undelivered or model.busy():
        moves = []
        if happened < len(changes):
            moves.append("happen")
        if undelivered:
            moves.append("deliver")
        if model.busy():
            moves.append("step")
        move = data.draw(st.sampled_from(moves))
        if move == "happen":
            change = changes[happened]
            model.github_head, model.github_second = change.head, change.second
            undelivered += [d for d in deliveries if d == change]
            happened += 1
        elif move == "deliver":
            model.deliver(undelivered.pop(data.draw(st.integers(0, len(undelivered) - 1))))
        else:
            model.step()
    return model


@settings(max_examples=300, deadline=None)
@given(data=st.data(), changes=timelines(labels_on_the_last_head=True))
def test_a_review_is_only_superseded_by_a_delivery_about_a_newer_head(data, changes):
    model = play(data, changes)
    for delivered, under_review in model.supersedes:
        assert delivered > under_review
    last = changes[-1].head
    assert (last, last) not in model.supersedes
    assert last in model.completed


@settings(max_examples=300, deadline=None)
@given(data=st.data(), changes=timelines(labels_on_the_last_head=False))
def test_the_newest_head_is_reviewed_exactly_once_whatever_the_order(data, changes):
    model = play(data, changes)
    last = changes[-1].head
    assert model.completed.count(last) == 1
    assert all(under_review != last for _, under_review in model.supersedes)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), changes=timelines(labels_on_the_last_head=False))
def test_all_deliveries_before_any_review_make_one_review(data, changes):
    """A burst: everything happened before the first delivery arrives (a backlog redelivered
    after an outage), in shuffled order."""
    order = data.draw(st.permutations([c for c in changes for _ in range(2)]))
    model = Model(github_head=changes[-1].head, github_second=changes[-1].second)
    for change in order:
        model.deliver(change)
        if data.draw(st.booleans()) and model.busy():
            model.step()
    while model.busy():
        model.step()
    assert model.completed == [changes[-1].head]
    assert model.supersedes == []
