"""``prsaga doctor``: every piece of the configuration checked, each with what to do about it.

Each check is a small function returning :class:`CheckResult`; :func:`render` turns the results
into the report (pure), and :func:`exit_status` says whether something blocks reviews. Checks
that depend on another one (the namespace on Temporal being reachable, the secret matching on the
webhook server answering) are skipped, not failed, when that one failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from enum import StrEnum

import httpx
from github import GithubException
from pydantic import BaseModel, ConfigDict
from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from prsaga.adapters.github_auth import APP_PERMISSIONS, app_auth, uses_app
from prsaga.adapters.github_client import make_github
from prsaga.review.repo_config import load_repo_config
from prsaga.review.texts import truncate
from prsaga.runtime.config import Settings, server_repo_config
from prsaga.runtime.temporal import connect
from prsaga.schema.search_attributes import SEARCH_ATTRIBUTES
from starter.app_create import app_events
from starter.github_events import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER
from starter.webhook import WEBHOOK_PATH

TIMEOUT_SECONDS = 10.0
"""How long one check waits for an answer before calling its service unreachable."""
RPC_TIMEOUT = timedelta(seconds=TIMEOUT_SECONDS)
_LEVELS = {"read": 1, "write": 2, "admin": 3}
MAX_LISTED_REPOSITORIES = 10


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    """Reviews run, but not as configured (e.g. an invalid prsaga.yml falls back to defaults)."""
    ERROR = "error"
    """Reviews cannot run (or cannot be posted) until this is fixed."""
    SKIPPED = "skipped"
    """Not checked: nothing configured to check, or a check it depends on failed."""


class CheckResult(BaseModel):
    """The outcome of one check: what was found and, unless it is OK, how to fix it."""

    model_config = ConfigDict(frozen=True)

    area: str
    name: str
    status: Status
    detail: str
    fix: str = ""


def _result(area: str, name: str) -> Callable[..., CheckResult]:
    def make(status: Status, detail: str, fix: str = "") -> CheckResult:
        return CheckResult(area=area, name=name, status=status, detail=detail, fix=fix)

    return make


def skipped(area: str, name: str, because: str) -> CheckResult:
    return CheckResult(area=area, name=name, status=Status.SKIPPED, detail=because)


# --- Temporal -------------------------------------------------------------------------------------

TEMPORAL = "Temporal"


async def check_temporal(settings: Settings) -> list[CheckResult]:
    """Reachable, namespace, search attributes, workers: each needs the one before."""
    reachable = _result(TEMPORAL, "reachable")
    # No metrics endpoint or tracing for this short-lived client: a worker may own the port.
    quiet = settings.model_copy(update={"metrics_address": None, "tracing": False})
    try:
        client = await asyncio.wait_for(connect(quiet), TIMEOUT_SECONDS)
    except (RuntimeError, TimeoutError, OSError) as error:
        reason = _short(str(error)) or type(error).__name__
        names = ("namespace", "search attributes", "worker")
        return [
            reachable(
                Status.ERROR,
                f"cannot reach Temporal at {settings.temporal_address}: {reason}",
                "start Temporal (`prsaga dev` runs one) or set PRSAGA_TEMPORAL_ADDRESS "
                "(and PRSAGA_TEMPORAL_API_KEY / PRSAGA_TEMPORAL_TLS for Temporal Cloud)",
            ),
            *(skipped(TEMPORAL, name, "Temporal unreachable") for name in names),
        ]
    results = [reachable(Status.OK, settings.temporal_address)]
    namespace = await check_namespace(client)
    results.append(namespace)
    if namespace.status is not Status.OK:
        for name in ("search attributes", "worker"):
            results.append(skipped(TEMPORAL, name, "no such namespace"))
        return results
    for name, check in (
        ("search attributes", check_search_attributes(client)),
        ("worker", check_workers(client, settings)),
    ):
        try:
            results.append(await check)
        except RPCError as error:  # e.g. an API key without the rights to ask
            results.append(_result(TEMPORAL, name)(Status.ERROR, f"Temporal refused: {error}"))
    return results


def _short(message: str, limit: int = 160) -> str:
    """A connection error in a few words (the SDK's nest a whole transport error)."""
    if "ConnectionRefused" in message or "Connection refused" in message:
        return "connection refused"
    return truncate(message, limit)


async def check_namespace(client: Client) -> CheckResult:
    result = _result(TEMPORAL, "namespace")
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=client.namespace), timeout=RPC_TIMEOUT
        )
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return result(
                Status.ERROR,
                f"namespace {client.namespace!r} does not exist",
                f"`temporal operator namespace create --namespace {client.namespace}`, or set "
                "PRSAGA_TEMPORAL_NAMESPACE to an existing one",
            )
        return result(Status.ERROR, f"cannot describe namespace {client.namespace!r}: {error}")
    return result(Status.OK, client.namespace)


async def check_search_attributes(client: Client) -> CheckResult:
    result = _result(TEMPORAL, "search attributes")
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace), timeout=RPC_TIMEOUT
    )
    registered = dict(listed.custom_attributes)
    problems = []
    for name, kind in SEARCH_ATTRIBUTES.items():
        if name not in registered:
            problems.append(f"{name} missing")
        elif registered[name] != kind:
            found = IndexedValueType.Name(registered[name])
            problems.append(f"{name} is {found}, not {IndexedValueType.Name(kind)}")
    if problems:
        return result(
            Status.ERROR,
            "; ".join(problems),
            "`prsaga setup` registers them (a wrongly typed one must be removed first)",
        )
    return result(Status.OK, ", ".join(SEARCH_ATTRIBUTES))


async def check_workers(client: Client, settings: Settings) -> CheckResult:
    """A worker polls the workflow and activity task queues (and the LLM one, if separate)."""
    result = _result(TEMPORAL, "worker")
    queues = [
        (settings.task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
        (settings.task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
    ]
    if settings.llm_task_queue:
        queues.append((settings.llm_task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY))
    idle = []
    pollers: set[str] = set()
    for name, kind in queues:
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=name),
                task_queue_type=kind,
            ),
            timeout=RPC_TIMEOUT,
        )
        if not described.pollers:
            idle.append(f"{name} ({TaskQueueType.Name(kind).removeprefix('TASK_QUEUE_TYPE_')})")
        pollers.update(poller.identity for poller in described.pollers)
    if idle:
        return result(
            Status.ERROR,
            f"no worker polls {', '.join(idle)}",
            "start one: `prsaga worker` (same PRSAGA_TEMPORAL_* and PRSAGA_TASK_QUEUE settings)",
        )
    return result(Status.OK, f"{len(pollers)} polling {settings.task_queue}")


# --- The webhook server ---------------------------------------------------------------------------

WEBHOOK = "Webhook"


def default_webhook_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.webhook_host in ("0.0.0.0", "::") else settings.webhook_host
    return f"http://{host}:{settings.webhook_port}"


def check_webhook_secret_set(settings: Settings) -> CheckResult:
    result = _result(WEBHOOK, "secret")
    if settings.webhook_secret is None:
        return result(
            Status.ERROR,
            "PRSAGA_WEBHOOK_SECRET is not set: the webhook server refuses to start",
            "set it to the GitHub App's webhook secret (`prsaga app create` writes it to .env)",
        )
    return result(Status.OK, "set")


def check_webhook_reachable(webhook_url: str) -> CheckResult:
    result = _result(WEBHOOK, "reachable")
    try:
        answer = httpx.get(f"{webhook_url}/healthz", timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        return result(
            Status.ERROR,
            f"nothing answers at {webhook_url}/healthz ({type(error).__name__})",
            "start it (`prsaga webhook`), or pass its address with --webhook-url",
        )
    if answer.status_code != 200:
        return result(
            Status.ERROR,
            f"{webhook_url}/healthz answered {answer.status_code}",
            "is this prsaga's webhook server? check --webhook-url",
        )
    return result(Status.OK, f"{webhook_url}/healthz")


def check_webhook_signature(settings: Settings, webhook_url: str) -> CheckResult:
    """A ``ping`` signed with the configured secret: the server takes it only if its own
    secret is the same (the one GitHub signs with, if the App was made with it)."""
    result = _result(WEBHOOK, "signed delivery")
    assert settings.webhook_secret is not None  # checked before
    body = json.dumps({"zen": "prsaga doctor", "hook_id": 0}).encode()
    signature = hmac.new(
        settings.webhook_secret.get_secret_value().encode(), body, hashlib.sha256
    ).hexdigest()
    headers = {
        "Content-Type": "application/json",
        EVENT_HEADER: "ping",
        DELIVERY_HEADER: f"doctor-{uuid.uuid4()}",
        SIGNATURE_HEADER: f"sha256={signature}",
    }
    try:
        answer = httpx.post(
            f"{webhook_url}{WEBHOOK_PATH}", content=body, headers=headers, timeout=TIMEOUT_SECONDS
        )
    except httpx.HTTPError as error:
        return result(Status.ERROR, f"the delivery failed: {type(error).__name__}")
    if answer.status_code == 401:
        return result(
            Status.ERROR,
            "the server refused a ping signed with PRSAGA_WEBHOOK_SECRET: its secret differs",
            "give the webhook server and the GitHub App's webhook the same secret",
        )
    if answer.status_code != 200:
        return result(Status.ERROR, f"a signed ping got HTTP {answer.status_code}")
    return result(Status.OK, f"a signed ping to {WEBHOOK_PATH} was accepted")


# --- GitHub ---------------------------------------------------------------------------------------

GITHUB = "GitHub"


def _api(settings: Settings) -> str:
    return settings.github_api_url.rstrip("/")


def check_github_token(settings: Settings) -> CheckResult:
    result = _result(GITHUB, "token")
    assert settings.github_token is not None
    headers = {
        "Authorization": f"token {settings.github_token.get_secret_value()}",
        "Accept": "application/vnd.github+json",
    }
    try:
        answer = httpx.get(f"{_api(settings)}/user", headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        return _unreachable_github(result, settings, error)
    if answer.status_code == 401:
        return result(
            Status.ERROR,
            f"{_api(settings)} refused the token (401 Bad credentials): revoked, expired or "
            "mistyped",
            "create a token and set PRSAGA_GITHUB_TOKEN, or use a GitHub App (`prsaga app create`)",
        )
    if answer.status_code != 200:
        return result(Status.ERROR, f"GET /user answered {answer.status_code}")
    login = answer.json().get("login", "?")
    scopes_header = answer.headers.get("x-oauth-scopes")
    if scopes_header is None:
        return result(
            Status.OK,
            f"a fine-grained token of {login}: it needs read and write access to pull "
            "requests, issues and commit statuses, and read access to contents",
        )
    scopes = {scope.strip() for scope in scopes_header.split(",") if scope.strip()}
    if "repo" in scopes:
        return result(Status.OK, f"a classic token of {login} with the repo scope")
    if "public_repo" in scopes:
        return result(
            Status.WARNING,
            f"the token of {login} has public_repo only: private repositories cannot be reviewed",
            "add the repo scope if prsaga reviews private repositories",
        )
    return result(
        Status.ERROR,
        f"the token of {login} has neither the repo nor the public_repo scope "
        f"(it has: {', '.join(sorted(scopes)) or 'none'})",
        "give the token the repo scope",
    )


def _unreachable_github(
    result: Callable[..., CheckResult], settings: Settings, error: Exception
) -> CheckResult:
    return result(
        Status.ERROR,
        f"cannot reach {_api(settings)}: {type(error).__name__}",
        "check PRSAGA_GITHUB_API_URL (GitHub Enterprise Server: https://HOST/api/v3)",
    )


def missing_permissions(granted: dict[str, str]) -> list[str]:
    """What prsaga needs that ``granted`` lacks, as ``name: level`` (with what it has)."""
    return [
        f"{name}: {level} (has {granted.get(name, 'none')})"
        for name, level in APP_PERMISSIONS.items()
        if _LEVELS.get(granted.get(name, ""), 0) < _LEVELS[level]
    ]


def check_github_app(settings: Settings, repo: str | None) -> list[CheckResult]:
    """The App's JWT works; its permissions and events are prsaga's; where it is installed."""
    app_result = _result(GITHUB, "App")
    try:
        jwt = app_auth(settings).token
    except ApplicationError as error:
        return [app_result(Status.ERROR, error.message, "`prsaga app create` writes both")]
    headers = {"Authorization": f"Bearer {jwt}", "Accept": "application/vnd.github+json"}
    try:
        answer = httpx.get(f"{_api(settings)}/app", headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        return [_unreachable_github(app_result, settings, error)]
    if answer.status_code != 200:
        message = answer.json().get("message", "") if answer.content else ""
        return [
            app_result(
                Status.ERROR,
                f"GitHub refused the App's JWT ({answer.status_code} {message})".rstrip(),
                "check PRSAGA_GITHUB_APP_ID and that the private key is this App's (regenerate "
                "one in the App's settings if it was lost)",
            )
        ]
    app = answer.json()
    results = [app_result(Status.OK, f"{app['slug']} (id {app['id']})")]
    results.append(check_app_permissions(app))
    results.append(check_app_events(app))
    results.append(check_app_installations(settings, app, headers, repo))
    return results


def check_app_permissions(app: dict[str, object]) -> CheckResult:
    result = _result(GITHUB, "App permissions")
    granted = app.get("permissions")
    missing = missing_permissions(granted if isinstance(granted, dict) else {})
    if missing:
        return result(
            Status.ERROR,
            "missing " + "; ".join(missing),
            f"{app.get('html_url', 'the App')}: Permissions & events (then accept the change "
            "in each installation)",
        )
    return result(Status.OK, ", ".join(f"{k}: {v}" for k, v in APP_PERMISSIONS.items()))


def check_app_events(app: dict[str, object]) -> CheckResult:
    result = _result(GITHUB, "App events")
    subscribed = app.get("events")
    have = set(subscribed) if isinstance(subscribed, list) else set()
    missing = [event for event in app_events() if event not in have]
    if missing:
        return result(
            Status.ERROR,
            f"not subscribed to {', '.join(missing)}: GitHub never delivers them",
            f"{app.get('html_url', 'the App')}: Permissions & events → Subscribe to events",
        )
    return result(Status.OK, ", ".join(app_events()))


def check_app_installations(
    settings: Settings, app: dict[str, object], headers: dict[str, str], repo: str | None
) -> CheckResult:
    result = _result(GITHUB, "App installations")
    install = f"{app.get('html_url')}/installations/new"
    try:
        answer = httpx.get(
            f"{_api(settings)}/app/installations", headers=headers, timeout=TIMEOUT_SECONDS
        )
    except httpx.HTTPError as error:
        return _unreachable_github(result, settings, error)
    if answer.status_code != 200:
        return result(Status.ERROR, f"GET /app/installations answered {answer.status_code}")
    installations = answer.json()
    if not installations:
        return result(Status.ERROR, "the App is not installed anywhere", f"install it: {install}")
    lagging = [
        f"{item['account']['login']} ({'; '.join(missing)})"
        for item in installations
        if (missing := missing_permissions(item.get("permissions") or {}))
    ]
    if lagging:
        return result(
            Status.ERROR,
            f"installations without the permissions prsaga needs: {', '.join(lagging)}",
            "accept the App's new permissions in each installation's settings",
        )
    where = "; ".join(
        f"{item['account']['login']}: {installed_repositories(settings, headers, item['id'])}"
        for item in installations
    )
    if repo is not None:
        owner, _, name = repo.partition("/")
        try:
            found = httpx.get(
                f"{_api(settings)}/repos/{owner}/{name}/installation",
                headers=headers,
                timeout=TIMEOUT_SECONDS,
            )
        except httpx.HTTPError as error:
            return _unreachable_github(result, settings, error)
        if found.status_code != 200:
            return result(
                Status.ERROR,
                f"installed on {where}, but not on {repo}",
                f"add {repo} to the installation: {install}",
            )
    return result(Status.OK, f"installed on {where}")


def installed_repositories(settings: Settings, headers: dict[str, str], installation: int) -> str:
    """The repositories an installation was given, as its own token lists them."""
    try:
        issued = httpx.post(
            f"{_api(settings)}/app/installations/{installation}/access_tokens",
            headers=headers,
            timeout=TIMEOUT_SECONDS,
        )
        if issued.status_code != 201:
            return f"repositories unknown (a token for it: HTTP {issued.status_code})"
        listed = httpx.get(
            f"{_api(settings)}/installation/repositories",
            params={"per_page": 100},
            headers={
                "Authorization": f"token {issued.json()['token']}",
                "Accept": "application/vnd.github+json",
            },
            timeout=TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as error:
        return f"repositories unknown ({type(error).__name__})"
    if listed.status_code != 200:
        return f"repositories unknown (HTTP {listed.status_code})"
    answer = listed.json()
    names = [repository["full_name"] for repository in answer["repositories"]]
    more = answer["total_count"] - min(len(names), MAX_LISTED_REPOSITORIES)
    shown = ", ".join(names[:MAX_LISTED_REPOSITORIES]) or "no repositories"
    return shown + (f" and {more} more" if more > 0 else "")


def check_github(settings: Settings, repo: str | None) -> list[CheckResult]:
    app_settings = (
        settings.github_app_id,
        settings.github_app_private_key,
        settings.github_app_private_key_path,
    )
    if uses_app(settings) or any(value is not None for value in app_settings):
        return check_github_app(settings, repo)
    if settings.github_token is not None:
        return [check_github_token(settings)]
    return [
        CheckResult(
            area=GITHUB,
            name="credentials",
            status=Status.ERROR,
            detail="no GitHub credentials are configured",
            fix="create a GitHub App (`prsaga app create`) or set PRSAGA_GITHUB_TOKEN",
        )
    ]


# --- The repository's configuration ---------------------------------------------------------------

REPOSITORY = "Repository"


def check_server_defaults(settings: Settings) -> CheckResult:
    result = _result(REPOSITORY, "server defaults")
    try:
        server_repo_config(settings)
    except ValueError as problem:
        return result(
            Status.ERROR,
            f"{problem} (the worker refuses to start)",
            "fix PRSAGA_DEFAULT_REPO_CONFIG or the file it names",
        )
    source = settings.default_repo_config or "settings only"
    return result(Status.OK, str(source))


def check_repo_config(settings: Settings, repo: str) -> CheckResult:
    """``.github/prsaga.yml`` on the default branch, read and validated as a review would."""
    result = _result(REPOSITORY, settings.repo_config_path)
    try:
        defaults = server_repo_config(settings)
    except ValueError:
        return skipped(REPOSITORY, settings.repo_config_path, "the server's defaults are invalid")
    try:
        repository = make_github(settings, repo_full_name=repo).get_repo(repo, lazy=False)
    except GithubException as error:
        return result(
            Status.ERROR,
            f"{repo} is not visible with these credentials (HTTP {error.status})",
            "check the repository name, and that the token or the App can read it",
        )
    except ApplicationError as error:
        return result(Status.ERROR, f"cannot read {repo}: {error.message}")
    try:
        found = repository.get_contents(settings.repo_config_path)
    except GithubException as error:
        if error.status == 404:
            return result(Status.OK, f"none in {repo}: the server's defaults apply")
        return result(Status.ERROR, f"cannot read it from {repo}: HTTP {error.status}")
    if isinstance(found, list):
        return result(Status.WARNING, f"{settings.repo_config_path} in {repo} is a folder")
    try:
        text = found.decoded_content.decode("utf-8")
    except UnicodeDecodeError:
        return result(Status.WARNING, f"{settings.repo_config_path} in {repo} is not UTF-8 text")
    loaded = load_repo_config(text, defaults, source=settings.repo_config_path)
    if loaded.error is not None:
        return result(
            Status.WARNING,
            loaded.error,
            f"fix {settings.repo_config_path} on {repo}'s default branch (prsaga also says so "
            "in its reviews)",
        )
    return result(Status.OK, f"valid in {repo}")


# --- Claude ---------------------------------------------------------------------------------------

CLAUDE = "Claude"


def check_llm(settings: Settings) -> CheckResult:
    """The configured model answers at the configured base URL with the configured key."""
    result = _result(CLAUDE, "model")
    if settings.anthropic_api_key is None:
        return skipped(
            CLAUDE,
            "model",
            "no PRSAGA_ANTHROPIC_API_KEY: the Claude specialists are off, the offline reviewer "
            "reviews alone",
        )
    import anthropic  # seconds to import: only when there is a model to check

    base_url = settings.anthropic_base_url or "https://api.anthropic.com"
    client = anthropic.Anthropic(
        api_key=settings.anthropic_api_key.get_secret_value(),
        base_url=base_url,
        timeout=TIMEOUT_SECONDS,
        max_retries=0,
    )
    model = settings.anthropic_model
    try:
        client.models.retrieve(model)
    except anthropic.APIConnectionError as error:
        return result(
            Status.ERROR,
            f"cannot reach {base_url}: {type(error).__name__}",
            "check PRSAGA_ANTHROPIC_BASE_URL (unset it for Anthropic's API)",
        )
    except anthropic.AuthenticationError:
        return result(
            Status.ERROR,
            f"{base_url} refused the key (401)",
            "set PRSAGA_ANTHROPIC_API_KEY to a valid key",
        )
    except anthropic.NotFoundError:
        return result(
            Status.ERROR,
            f"{base_url} does not know the model {model!r}",
            "set PRSAGA_ANTHROPIC_MODEL to a model the key can use",
        )
    except anthropic.APIStatusError as error:
        return result(Status.ERROR, f"{base_url} answered {error.status_code} for {model!r}")
    return result(Status.OK, f"{model} at {base_url}")


# --- The offline reviewer's tools -----------------------------------------------------------------

OFFLINE = "Offline tools"


def _ruff_argv() -> list[str]:
    from ruff.__main__ import find_ruff_bin

    return [find_ruff_bin(), "--version"]


OFFLINE_TOOLS: dict[str, Callable[[], list[str]]] = {
    "ruff": _ruff_argv,
    "bandit": lambda: [sys.executable, "-I", "-m", "bandit", "--version"],
    "detect-secrets": lambda: [sys.executable, "-I", "-m", "detect_secrets", "--version"],
}
"""How the offline reviewer runs each tool, asked for its version."""


def check_offline_tool(name: str, argv: Callable[[], list[str]]) -> CheckResult:
    result = _result(OFFLINE, name)
    missing = result(
        Status.ERROR,
        f"{name} does not run: the offline reviewer cannot review",
        "reinstall prsaga (`pip install prsaga`), which brings ruff, bandit and detect-secrets",
    )
    try:
        done = subprocess.run(argv(), capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired):
        return missing
    if done.returncode != 0:
        return missing
    lines = (done.stdout or done.stderr).strip().splitlines()
    return result(Status.OK, lines[0].replace("__main__.py", name) if lines else "runs")


# --- The whole run --------------------------------------------------------------------------------


def run_checks(settings: Settings, *, repo: str | None, webhook_url: str) -> list[CheckResult]:
    """Every check, in the order of the report."""
    results = asyncio.run(check_temporal(settings))
    secret = check_webhook_secret_set(settings)
    reachable = check_webhook_reachable(webhook_url)
    results += [secret, reachable]
    if secret.status is Status.OK and reachable.status is Status.OK:
        results.append(check_webhook_signature(settings, webhook_url))
    else:
        results.append(skipped(WEBHOOK, "signed delivery", "no secret or no server"))
    github = check_github(settings, repo)
    results += github
    results.append(check_server_defaults(settings))
    if repo is not None:
        if github[0].status is Status.ERROR:  # the token, or the App's JWT, does not work
            results.append(
                skipped(REPOSITORY, settings.repo_config_path, "the GitHub credentials do not work")
            )
        else:
            results.append(check_repo_config(settings, repo))
    results.append(check_llm(settings))
    results += [check_offline_tool(name, argv) for name, argv in OFFLINE_TOOLS.items()]
    return results


_LABELS = {
    Status.OK: "ok",
    Status.WARNING: "WARNING",
    Status.ERROR: "ERROR",
    Status.SKIPPED: "skipped",
}


def render(results: Sequence[CheckResult]) -> str:
    """The report: one line per check under its area, a ``fix:`` line under each problem,
    and a last line counting errors and warnings."""
    width = max((len(result.name) for result in results), default=0)
    lines: list[str] = []
    area = None
    for result in results:
        if result.area != area:
            area = result.area
            lines.append(("\n" if lines else "") + area)
        lines.append(f"  {_LABELS[result.status]:<8} {result.name:<{width}}  {result.detail}")
        if result.fix and result.status in (Status.ERROR, Status.WARNING):
            lines.append(f"  {'':<8} {'':<{width}}  fix: {result.fix}")
    errors = sum(result.status is Status.ERROR for result in results)
    warnings = sum(result.status is Status.WARNING for result in results)
    if errors:
        verdict = f"{errors} error(s) block reviews"
    else:
        verdict = "nothing blocks reviews"
    lines.append(f"\n{verdict}; {warnings} warning(s).")
    return "\n".join(lines)


def exit_status(results: Sequence[CheckResult]) -> int:
    """1 when an error blocks reviews, else 0 (warnings do not)."""
    return 1 if any(result.status is Status.ERROR for result in results) else 0
