"""`prsaga doctor`'s pure parts: what an App lacks, the report, and the exit status."""

from __future__ import annotations

from starter.doctor import CheckResult, Status, exit_status, missing_permissions, render


def result(area: str, name: str, status: Status, detail: str, fix: str = "") -> CheckResult:
    return CheckResult(area=area, name=name, status=status, detail=detail, fix=fix)


def test_missing_permissions_name_the_level_needed_and_the_level_granted() -> None:
    granted = {"checks": "read", "contents": "write", "issues": "write", "metadata": "read"}
    assert missing_permissions(granted) == [
        "checks: write (has read)",
        "pull_requests: write (has none)",
        "statuses: write (has none)",
    ]
    assert (
        missing_permissions(
            {name: "admin" for name in granted} | {"pull_requests": "write", "statuses": "write"}
        )
        == []
    )


def test_the_report_groups_by_area_and_shows_fixes_of_problems_only() -> None:
    results = [
        result("Temporal", "reachable", Status.OK, "127.0.0.1:7233", fix="unused"),
        result("Temporal", "worker", Status.ERROR, "no worker polls prsaga", fix="prsaga worker"),
        result("Repository", ".github/prsaga.yml", Status.WARNING, "invalid", fix="fix it"),
        result("Claude", "model", Status.SKIPPED, "no key"),
    ]
    assert render(results) == (
        "Temporal\n"
        "  ok       reachable           127.0.0.1:7233\n"
        "  ERROR    worker              no worker polls prsaga\n"
        "                               fix: prsaga worker\n"
        "\n"
        "Repository\n"
        "  WARNING  .github/prsaga.yml  invalid\n"
        "                               fix: fix it\n"
        "\n"
        "Claude\n"
        "  skipped  model               no key\n"
        "\n"
        "1 error(s) block reviews; 1 warning(s)."
    )
    assert exit_status(results) == 1


def test_warnings_and_skipped_checks_do_not_fail_the_run() -> None:
    results = [
        result("Repository", "x", Status.WARNING, "invalid"),
        result("Claude", "model", Status.SKIPPED, "no key"),
        result("Offline tools", "ruff", Status.OK, "ruff 0.17"),
    ]
    assert exit_status(results) == 0
    assert render(results).endswith("nothing blocks reviews; 1 warning(s).")
