"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

The compose file is interpolated as Compose interpolates it (the subset of the syntax it uses) and
validated against the Compose Specification's JSON schema. The tests then check what a schema
cannot: every ``PRSAGA_*`` variable is a real setting, health-gated dependencies point at
health-checked services, the worker and the webhook server share one image and one state volume,
and the image installs the project and runs as a non-root user. Both prsaga-owned healthchecks
are run for real: the webhook's against the real app, Temporal's against a Temporal dev server.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import importlib.util
import json
import os
import re
import shlex
import sys
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import uvicorn
import yaml
from pydantic import AliasChoices, SecretStr
from temporalio.client import Client

from prsaga.config import Settings
from prsaga.embedded import temporal_cli
from prsaga.models import PullRequestEvent, PullRequestRef
from starter.webhook import create_app

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CONTRACT_DIR = Path(__file__).resolve().parent / "contract"
SCHEMA_FILE = CONTRACT_DIR / "compose-spec.json"
SCHEMA_PROVENANCE = CONTRACT_DIR / "PROVENANCE-compose.md"

# What a user must provide; compose refuses to load the file without them.
REQUIRED_ENV = {
    "POSTGRES_PASSWORD": "test-only-postgres-password",
    "PRSAGA_WEBHOOK_SECRET": "test-only-webhook-secret",
}
PRSAGA_SERVICES = ("worker", "webhook")
SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|API_KEY")
# A secret's value may only come from the environment, never from a default in the file.
SECRET_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*)?\}")


# --- compose interpolation ------------------------------------------------------------------------


class InterpolationError(ValueError):
    """Compose would refuse the file: a required variable is unset, or the syntax is unknown."""


_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<operator>:?[-?])(?P<argument>[^}$]*))?\}"
    r"|(?P<unsupported>))"
)


def substitute(text: str, env: Mapping[str, str]) -> str:
    """Interpolate one string: ``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-default}``,
    ``${VAR-default}``, ``${VAR:?error}`` and ``${VAR?error}``, with Compose's meaning.

    Raises:
        InterpolationError: A required variable is unset (or empty, for ``:?``), or the text
            uses syntax outside this subset, which this check would otherwise misread.
    """

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["unsupported"] is not None:
            raise InterpolationError(f"unsupported interpolation in {text!r}")
        name = match["named"] or match["braced"]
        value = env.get(name)
        operator = match["operator"]
        if operator is None:
            return value or ""  # Compose substitutes an empty string (and warns)
        unset = value is None or (operator.startswith(":") and value == "")
        if operator.endswith("-"):
            return match["argument"] if unset else str(value)
        if unset:
            raise InterpolationError(f"required variable {name} is missing: {match['argument']}")
        return str(value)

    return _INTERPOLATION.sub(replace, text)


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """Interpolate every string value of a parsed compose file (keys are left alone)."""
    if isinstance(node, str):
        return substitute(node, env)
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    return node


def load_compose(env: Mapping[str, str] = REQUIRED_ENV) -> dict[str, Any]:
    """The compose file as Compose sees it, given the host environment ``env``."""
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text()), env)


def service_environment(service: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """The variables Compose sets in a service's containers; a variable listed without a value
    is passed through from ``env`` when it is set there and left out otherwise."""
    declared = service.get("environment") or {}
    if isinstance(declared, list):
        declared = dict(
            (item.split("=", 1)[0], item.split("=", 1)[1] if "=" in item else None)
            for item in declared
        )
    resolved: dict[str, str] = {}
    for key, value in declared.items():
        if value is None:
            if key in env:
                resolved[key] = env[key]
        elif isinstance(value, bool):
            resolved[key] = str(value).lower()
        else:
            resolved[key] = str(value)
    return resolved


def healthcheck_argv(service: Mapping[str, Any]) -> list[str]:
    """The command of an exec-form (``CMD``) healthcheck."""
    test = service["healthcheck"]["test"]
    assert isinstance(test, list) and test[0] == "CMD", test
    return list(test[1:])


# --- Settings -------------------------------------------------------------------------------------


def settings_env_names() -> dict[str, str]:
    """Every environment variable ``Settings`` reads, upper-cased, mapped to its field."""
    prefix = Settings.model_config.get("env_prefix", "")
    names: dict[str, str] = {}
    for field_name, info in Settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            choices = [choice for choice in alias.choices if isinstance(choice, str)]
        elif isinstance(alias, str):
            choices = [alias]
        else:
            choices = [prefix + field_name]
        for choice in choices:
            names[choice.upper()] = field_name
    return names


def _mentions(annotation: Any, target: type) -> bool:
    return annotation is target or any(
        _mentions(arg, target) for arg in typing.get_args(annotation)
    )


def secret_setting_env_names() -> set[str]:
    """The environment variables of the settings typed ``SecretStr``."""
    secret_fields = {
        name
        for name, info in Settings.model_fields.items()
        if _mentions(info.annotation, SecretStr)
    }
    return {env for env, field in settings_env_names().items() if field in secret_fields}


# --- Dockerfile -----------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, ``(INSTRUCTION, arguments)``, one list per build stage."""
    logical_lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical_lines.append(pending + line)
        pending = ""
    stages: list[list[tuple[str, str]]] = []
    for line in logical_lines:
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def image_env(stage: list[tuple[str, str]]) -> dict[str, str]:
    """The variables a stage's ``ENV`` instructions set (``KEY=VALUE`` form)."""
    env: dict[str, str] = {}
    for instruction, arguments in stage:
        if instruction == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(arguments))
    return env


def exec_form(arguments: str) -> list[str]:
    parsed = json.loads(arguments)
    assert isinstance(parsed, list), f"not in exec form: {arguments}"
    return parsed


FINAL_STAGE = dockerfile_stages()[-1]
IMAGE_ENV = image_env(FINAL_STAGE)


def container_environment(service_name: str, env: Mapping[str, str]) -> dict[str, str]:
    """A prsaga container's environment: the image's ``ENV``, overridden by the service's."""
    service = load_compose(env)["services"][service_name]
    return IMAGE_ENV | service_environment(service, env)


# --- the schema -----------------------------------------------------------------------------------


def test_vendored_schema_is_the_one_recorded_in_its_provenance() -> None:
    recorded = re.search(r"sha256[^0-9a-f]*([0-9a-f]{64})", SCHEMA_PROVENANCE.read_text())
    assert recorded, "PROVENANCE-compose.md records no sha256"
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == recorded.group(1)


def compose_schema_errors(config: Mapping[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(config)
    ]


def test_compose_file_is_valid_under_the_compose_specification() -> None:
    assert compose_schema_errors(load_compose()) == []


def test_schema_check_rejects_what_compose_rejects() -> None:
    # Without this, a schema that accepts anything would make the test above pass vacuously.
    config = copy.deepcopy(load_compose())
    config["services"]["worker"]["enviroment"] = {"PRSAGA_TASK_QUEUE": "typo"}
    config["services"]["webhook"]["depends_on"]["temporal"]["condition"] = "service_ready"
    errors = compose_schema_errors(config)
    assert any("enviroment" in error for error in errors), errors
    assert any("service_ready" in error for error in errors), errors


# --- secrets --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REQUIRED_ENV))
def test_compose_refuses_to_start_without_a_required_secret(name: str) -> None:
    env = {key: value for key, value in REQUIRED_ENV.items() if key != name}
    with pytest.raises(InterpolationError, match=name):
        load_compose(env)
    with pytest.raises(InterpolationError, match=name):
        load_compose(env | {name: ""})


def test_secrets_come_from_the_environment_only() -> None:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    secret_names = secret_setting_env_names()
    checked = 0
    for service_name, service in raw["services"].items():
        declared = service.get("environment") or {}
        for key, value in declared.items():
            if key in secret_names or SECRET_NAME.search(key):
                checked += 1
                assert value is None or SECRET_REFERENCE.fullmatch(str(value)), (
                    f"{service_name}.{key} must be passed through or be ${{VAR}} / "
                    f"${{VAR:?message}}, not {value!r}"
                )
    assert checked >= len(REQUIRED_ENV)


def test_dockerignore_keeps_secrets_and_history_out_of_the_build_context() -> None:
    patterns = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    assert {".env", ".git", ".prsaga"} <= patterns


# --- PRSAGA_* variables are settings --------------------------------------------------------------


def test_every_prsaga_variable_is_a_real_setting() -> None:
    known = settings_env_names()
    config = load_compose()
    set_by_compose = {
        (service_name, key)
        for service_name, service in config["services"].items()
        for key in service_environment(service, REQUIRED_ENV | dict.fromkeys(known, "x"))
    }
    prsaga_keys = [
        (where, key) for where, key in set_by_compose if key.startswith("PRSAGA_") or key in known
    ]
    prsaga_keys += [("Dockerfile", key) for key in IMAGE_ENV if key.startswith("PRSAGA_")]
    unknown = [f"{where}: {key}" for where, key in prsaga_keys if key.upper() not in known]
    assert unknown == []
    # The aliases (GITHUB_TOKEN, ANTHROPIC_API_KEY) count as settings too.
    assert {key for _, key in prsaga_keys} >= {"PRSAGA_TEMPORAL_ADDRESS", "GITHUB_TOKEN"}


@pytest.fixture
def clean_settings_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No setting leaks in from the environment the tests run in."""
    for name in list(os.environ):
        if name.upper() in settings_env_names():
            monkeypatch.delenv(name)
    return monkeypatch


def settings_in(service_name: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a prsaga process would read in that service's container."""
    for key, value in container_environment(service_name, REQUIRED_ENV).items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)


@pytest.mark.parametrize("service_name", PRSAGA_SERVICES)
def test_prsaga_processes_reach_the_health_checked_temporal_service(
    service_name: str, clean_settings_env: pytest.MonkeyPatch
) -> None:
    settings = settings_in(service_name, clean_settings_env)
    services = load_compose()["services"]
    host, _, port = settings.temporal_address.rpartition(":")
    assert host in services and "healthcheck" in services[host]
    assert port == "7233"  # Temporal's frontend port
    assert settings.temporal_namespace == services[host]["environment"]["DEFAULT_NAMESPACE"]
    healthcheck = healthcheck_argv(services[host])
    assert healthcheck[healthcheck.index("--namespace") + 1] == settings.temporal_namespace


def test_webhook_listens_where_its_port_is_published(
    clean_settings_env: pytest.MonkeyPatch,
) -> None:
    settings = settings_in("webhook", clean_settings_env)
    published = load_compose()["services"]["webhook"]["ports"]
    container_ports = {str(mapping).rsplit(":", 1)[-1] for mapping in published}
    # 127.0.0.1 inside a container is unreachable through a published port.
    assert settings.webhook_host == "0.0.0.0"
    assert str(settings.webhook_port) in container_ports
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == REQUIRED_ENV["PRSAGA_WEBHOOK_SECRET"]


def test_worker_passes_github_and_anthropic_settings_through(
    clean_settings_env: pytest.MonkeyPatch,
) -> None:
    host_env = REQUIRED_ENV | {"GITHUB_TOKEN": "ghp_test_only", "ANTHROPIC_API_KEY": "sk-test"}
    worker = load_compose(host_env)["services"]["worker"]
    for key, value in service_environment(worker, host_env).items():
        clean_settings_env.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.github_token is not None
    assert settings.github_token.get_secret_value() == "ghp_test_only"
    assert settings.anthropic_api_key is not None
    assert settings.anthropic_api_key.get_secret_value() == "sk-test"
    # Unset on the host means unset in the container, not an empty secret.
    assert "PRSAGA_GITHUB_TOKEN" not in service_environment(worker, host_env)


# --- dependencies and the shared image ------------------------------------------------------------


def test_health_gated_dependencies_point_at_health_checked_services() -> None:
    services = load_compose()["services"]
    gated = []
    for name, service in services.items():
        depends_on = service.get("depends_on") or {}
        entries = depends_on.items() if isinstance(depends_on, dict) else []
        for target in depends_on:
            assert target in services, f"{name} depends on unknown service {target}"
        for target, condition in entries:
            if condition.get("condition") == "service_healthy":
                gated.append((name, target))
                healthcheck = services[target].get("healthcheck") or {}
                assert healthcheck.get("test") and healthcheck["test"] != ["NONE"], target
                assert str(healthcheck.get("disable", False)).lower() != "true", target
    assert {("temporal", "postgresql"), ("worker", "temporal"), ("webhook", "temporal")} <= set(
        gated
    )


def test_worker_and_webhook_share_the_image_and_the_state_volume() -> None:
    config = load_compose()
    worker, webhook = (config["services"][name] for name in PRSAGA_SERVICES)
    assert worker["build"] == webhook["build"] and worker["image"] == webhook["image"]
    context = worker["build"]["context"] if isinstance(worker["build"], dict) else worker["build"]
    assert (COMPOSE_FILE.parent / context / "Dockerfile").resolve() == DOCKERFILE

    state_dir = IMAGE_ENV["PRSAGA_STATE_DIR"]
    worker_state, webhook_state = (
        volume_source(service, state_dir) for service in (worker, webhook)
    )
    assert worker_state == webhook_state
    assert worker_state in config["volumes"], "the state must be a named volume"
    volume_instructions = [args for instruction, args in FINAL_STAGE if instruction == "VOLUME"]
    assert any(state_dir in exec_form(args) for args in volume_instructions)


def volume_source(service: Mapping[str, Any], target: str) -> str:
    """What a service mounts at ``target`` (short ``source:target`` syntax)."""
    sources = [mount.split(":")[0] for mount in service["volumes"] if mount.split(":")[1] == target]
    assert len(sources) == 1, f"{target} is not mounted exactly once"
    return sources[0]


def test_services_run_importable_modules() -> None:
    services = load_compose()["services"]
    cmd = exec_form(next(args for instruction, args in FINAL_STAGE if instruction == "CMD"))
    assert "command" not in services["worker"], "the worker runs the image's CMD"
    for command in (cmd, services["webhook"]["command"]):
        assert command[:2] == ["python", "-m"], command
        assert importlib.util.find_spec(command[2]) is not None, command
    assert cmd[2] == "worker" and services["webhook"]["command"][2] == "starter.webhook"


def test_replicated_worker_has_no_fixed_host_port_or_name() -> None:
    worker = load_compose()["services"]["worker"]
    # Replicas would fight over a fixed host port or container name.
    assert "ports" not in worker and "container_name" not in worker
    assert int(worker["deploy"]["replicas"]) >= 1
    scaled = load_compose(REQUIRED_ENV | {"PRSAGA_WORKER_REPLICAS": "5"})["services"]["worker"]
    assert scaled["deploy"]["replicas"] == "5"


# --- the Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_runs_as_a_non_root_user() -> None:
    instructions = [instruction for instruction, _ in FINAL_STAGE]
    users = [args for instruction, args in FINAL_STAGE if instruction == "USER"]
    assert users, "the runtime stage sets no USER, so it runs as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert instructions.index("USER") < instructions.index("CMD")
    assert FINAL_STAGE[0][1].startswith("python:3.11-slim")


def test_dockerfile_installs_the_project_with_pip_and_no_cache() -> None:
    stages = dockerfile_stages()
    runs = [
        (index, args) for index, stage in enumerate(stages) for ins, args in stage if ins == "RUN"
    ]
    pip_runs = [
        (index, args) for index, args in runs if re.search(r"\bpip (install|wheel)\b", args)
    ]
    assert pip_runs and all("--no-cache-dir" in args for _, args in pip_runs)
    # The project itself (".") is what gets built or installed, not a list of its modules.
    project_builds = [index for index, args in pip_runs if re.search(r"\s\.(\s|$)", args)]
    assert project_builds, "no pip install/wheel of the project directory"
    final = len(stages) - 1
    assert any(index == final and "pip install" in args for index, args in pip_runs)
    for index in project_builds:
        if index != final:  # built in another stage: the runtime stage must copy it from there
            stage_name = stages[index][0][1].split()[-1]
            copies = [args for ins, args in FINAL_STAGE if ins == "COPY"]
            assert any(f"--from={stage_name}" in args for args in copies)


# --- the healthchecks, run for real ---------------------------------------------------------------


async def run(argv: list[str], env: Mapping[str, str]) -> int:
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=dict(env),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), timeout=30)


async def _never_submit(pr: PullRequestRef, event: PullRequestEvent) -> str:
    raise AssertionError("the healthcheck must not submit anything")


async def test_webhook_healthcheck_passes_on_the_real_app_and_fails_without_it(
    clean_settings_env: pytest.MonkeyPatch,
) -> None:
    webhook = load_compose()["services"]["webhook"]
    argv = healthcheck_argv(webhook)
    assert argv[0] == "python"
    argv[0] = sys.executable
    env = container_environment("webhook", REQUIRED_ENV) | {"PATH": os.environ["PATH"]}
    app = create_app(settings_in("webhook", clean_settings_env), _never_submit)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        env["PRSAGA_WEBHOOK_PORT"] = str(server.servers[0].sockets[0].getsockname()[1])
        assert await run(argv, env) == 0
    finally:
        server.should_exit = True
        await serving
    assert await run(argv, env) != 0


async def test_temporal_healthcheck_passes_only_once_the_namespace_exists(
    temporal_client: Client,
) -> None:
    def argv_for(env: Mapping[str, str]) -> list[str]:
        argv = healthcheck_argv(load_compose(env)["services"]["temporal"])
        assert argv[0] == "temporal"
        # Same command, pointed at the test's dev server instead of the compose service.
        argv[0] = temporal_cli()
        argv[argv.index("--address") + 1] = temporal_client.service_client.config.target_host
        return argv

    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    assert await run(argv_for(REQUIRED_ENV), env) == 0
    missing = REQUIRED_ENV | {"PRSAGA_TEMPORAL_NAMESPACE": "prsaga-no-such-namespace"}
    assert await run(argv_for(missing), env) != 0
