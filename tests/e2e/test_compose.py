"""docker-compose.yml, its deploy/ scripts and the Dockerfile, checked without a Docker engine.

The compose file is interpolated as Compose interpolates it (the subset of the syntax it uses) and
validated against the Compose Specification's JSON schema. The tests then check what a schema
cannot: every ``PRSAGA_*`` variable is a real setting and every setting reaches the containers,
dependencies and healthchecks hang together, images are pinned, and the Dockerfile installs the
project and runs as a non-root user. What can run without Docker runs for real: the namespace and
search-attribute job against a Temporal dev server, the schema job against a recording stand-in
for ``temporal-sql-tool``, and the healthchecks against the real endpoints they probe.
"""

from __future__ import annotations

import asyncio
import copy
import fnmatch
import hashlib
import importlib.util
import json
import os
import re
import shlex
import socket
import sys
import tomllib
import typing
import urllib.request
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import uvicorn
import yaml
from pydantic import AliasChoices, SecretStr
from starlette.applications import Starlette
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from prsaga.local.embedded import temporal_cli
from prsaga.local.testing import dev_server
from prsaga.runtime.config import Settings
from prsaga.schema.search_attributes import SEARCH_ATTRIBUTES
from starter.cli import build_parser
from starter.temporal import TemporalSubmitter
from starter.webhook import TemporalReadiness, create_app
from tests.paths import REPO_ROOT, TESTS_DIR

ROOT = REPO_ROOT
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / "deploy" / "compose.env.example"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
PYPROJECT = ROOT / "pyproject.toml"
CONTRACT_DIR = TESTS_DIR / "contract"
SCHEMA_FILE = CONTRACT_DIR / "compose-spec.json"
SCHEMA_PROVENANCE = CONTRACT_DIR / "PROVENANCE-compose.md"

# What a user must provide; compose refuses to load the file without them.
REQUIRED_ENV = {
    "POSTGRES_PASSWORD": "test-only-postgres-password",
    "PRSAGA_WEBHOOK_SECRET": "test-only-webhook-secret",
}
PRSAGA_SERVICES = ("worker", "llm-worker", "webhook")
WORKER_SERVICES = ("worker", "llm-worker")
# Interpolated by compose only, never read by prsaga: so they must not be prsaga settings.
COMPOSE_KNOBS = {"PRSAGA_WORKER_REPLICAS", "PRSAGA_LLM_WORKER_REPLICAS"}
# Only the webhook server listens for HTTP requests.
WEBHOOK_ONLY = {"PRSAGA_WEBHOOK_HOST", "PRSAGA_WEBHOOK_PORT"}
SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|API_KEY")
# A secret's value may only come from the environment, never from a default in the file.
SECRET_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*)?\}")
DEPENDENCY_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# Temporal's frontend HTTP API port when FRONTEND_HTTP_PORT is unset (the server's embedded
# config template, common/config/config_template_embedded.yaml in temporalio/temporal).
TEMPORAL_DEFAULT_HTTP_PORT = 7243


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
    is passed through from ``env`` (the shell or ``.env``) when set there, left out otherwise."""
    resolved: dict[str, str] = {}
    for key, value in (service.get("environment") or {}).items():
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def setting_env_names_of_type(target: type) -> set[str]:
    """The environment variables of the settings whose type mentions ``target``."""
    fields = {
        name for name, info in Settings.model_fields.items() if _mentions(info.annotation, target)
    }
    return {env for env, field in settings_env_names().items() if field in fields}


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
            for item in shlex.split(arguments):
                key, _, value = item.partition("=")
                env[key] = value
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


@pytest.fixture
def clean_settings_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No setting leaks in from the environment the tests run in."""
    for name in list(os.environ):
        if name.upper() in settings_env_names():
            monkeypatch.delenv(name)
    return monkeypatch


def settings_in(
    service_name: str, monkeypatch: pytest.MonkeyPatch, host_env: Mapping[str, str] = REQUIRED_ENV
) -> Settings:
    """The settings a prsaga process would read in that service's container."""
    for key, value in container_environment(service_name, host_env).items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)


# --- the schema and the interpolation -------------------------------------------------------------


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


@pytest.mark.parametrize(
    "host_env",
    [
        REQUIRED_ENV,
        REQUIRED_ENV
        | {
            "PRSAGA_WORKER_REPLICAS": "6",
            "PRSAGA_LLM_WORKER_REPLICAS": "3",
            "PRSAGA_LLM_TASK_QUEUE": "claude",
            "PRSAGA_TEMPORAL_NAMESPACE": "reviews",
            "TEMPORAL_NAMESPACE_RETENTION": "30d",
        },
    ],
    ids=["defaults", "everything-set"],
)
def test_compose_file_is_valid_under_the_compose_specification(
    host_env: Mapping[str, str],
) -> None:
    assert compose_schema_errors(load_compose(host_env)) == []


def test_schema_check_rejects_what_compose_rejects() -> None:
    # Without this, a schema that accepts anything would make the test above pass vacuously.
    config = copy.deepcopy(load_compose())
    config["services"]["worker"]["enviroment"] = {"PRSAGA_TASK_QUEUE": "typo"}
    config["services"]["webhook"]["depends_on"]["temporal"]["condition"] = "service_ready"
    errors = compose_schema_errors(config)
    assert any("enviroment" in error for error in errors), errors
    assert any("service_ready" in error for error in errors), errors


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A:-d}", {}, "d"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A-d}", {"A": "x"}, "x"),
        ("${A:?needed}", {"A": "x"}, "x"),
        ("${A?needed}", {"A": ""}, ""),
        ("$A/${B}", {"A": "a", "B": "b"}, "a/b"),
        ("$$A", {"A": "x"}, "$A"),
    ],
)
def test_interpolation_follows_the_compose_specification(
    text: str, env: dict[str, str], expected: str
) -> None:
    assert substitute(text, env) == expected


@pytest.mark.parametrize(
    ("text", "env"),
    [("${A:?needed}", {}), ("${A:?needed}", {"A": ""}), ("${A?needed}", {}), ("${A:-${B}}", {})],
)
def test_interpolation_refuses_what_compose_refuses_or_this_check_cannot_read(
    text: str, env: dict[str, str]
) -> None:
    with pytest.raises(InterpolationError):
        substitute(text, env)


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
    secret_names = setting_env_names_of_type(SecretStr)
    checked = 0
    for service_name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if key in secret_names or SECRET_NAME.search(key):
                checked += 1
                assert value is None or SECRET_REFERENCE.fullmatch(str(value)), (
                    f"{service_name}.{key} must be passed through or be ${{VAR}} / "
                    f"${{VAR:?message}}, not {value!r}"
                )
    assert checked >= len(secret_names)


def test_dockerignore_keeps_secrets_out_and_what_the_build_needs_in() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".env", ".git", ".prsaga"} <= set(patterns)
    pyproject = tomllib.loads(PYPROJECT.read_text())
    needed = ["pyproject.toml", pyproject["project"]["readme"]]
    needed += [module + ".py" for module in pyproject["tool"]["setuptools"]["py-modules"]]
    needed += [
        pattern.rstrip("*")
        for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    excluded = [path for path in needed if any(fnmatch.fnmatch(path, p) for p in patterns)]
    assert excluded == [], "the build context would lack what `pip wheel .` needs"


# --- PRSAGA_* variables are settings, and every setting reaches the containers ----------------


def test_every_prsaga_variable_is_a_real_setting() -> None:
    known = settings_env_names()
    assert not COMPOSE_KNOBS & known.keys(), "a compose-only knob shadows a setting"
    config = load_compose()
    declared = [
        (name, key)
        for name, service in config["services"].items()
        for key in service.get("environment") or {}
        if key.startswith("PRSAGA_") or key in known
    ]
    declared += [("Dockerfile", key) for key in IMAGE_ENV if key.startswith("PRSAGA_")]
    interpolated = set(re.findall(r"\$\{(PRSAGA_[A-Za-z0-9_]*)", COMPOSE_FILE.read_text()))
    declared += [("interpolation", key) for key in interpolated - COMPOSE_KNOBS]
    unknown = [f"{where}: {key}" for where, key in declared if key.upper() not in known]
    assert unknown == []
    # The aliases (GITHUB_TOKEN, ANTHROPIC_API_KEY) count as settings too.
    assert {key for _, key in declared} >= {"PRSAGA_TEMPORAL_ADDRESS", "GITHUB_TOKEN"}
    assert COMPOSE_KNOBS <= interpolated, "a documented compose knob is not used"


@pytest.mark.parametrize("service_name", PRSAGA_SERVICES)
def test_every_setting_can_be_set_for_the_prsaga_containers(service_name: str) -> None:
    declared = set(load_compose()["services"][service_name]["environment"])
    missing = settings_env_names().keys() - declared
    # File paths name a host file that the container sees only through a bind mount.
    host_paths = setting_env_names_of_type(Path)
    allowed = host_paths | (set() if service_name == "webhook" else WEBHOOK_ONLY)
    assert missing <= allowed, f"not passed through: {sorted(missing - allowed)}"
    assert "PRSAGA_STATE_DIR" in declared  # a Path, but one compose sets itself


@pytest.mark.parametrize("service_name", PRSAGA_SERVICES)
def test_an_env_file_written_for_embedded_mode_cannot_misplace_the_containers(
    service_name: str, clean_settings_env: pytest.MonkeyPatch
) -> None:
    # What `prsaga dev` users typically have in their `.env`: all of it local to their machine.
    embedded = {
        "PRSAGA_TEMPORAL_ADDRESS": "127.0.0.1:7233",
        "PRSAGA_STATE_DIR": ".prsaga",
        "PRSAGA_METRICS_ADDRESS": "127.0.0.1:9464",
        "PRSAGA_WEBHOOK_HOST": "127.0.0.1",
        "PRSAGA_WEBHOOK_PORT": "9000",
        "PRSAGA_GITHUB_APP_PRIVATE_KEY_PATH": "/home/me/app.pem",
    }
    settings = settings_in(service_name, clean_settings_env, REQUIRED_ENV | embedded)
    assert settings.temporal_address == "temporal:7233"
    assert settings.state_dir == Path(IMAGE_ENV["PRSAGA_STATE_DIR"])
    assert settings.metrics_address is not None
    assert settings.metrics_address.startswith("0.0.0.0:")
    assert settings.github_app_private_key_path is None
    if service_name == "webhook":
        assert (settings.webhook_host, settings.webhook_port) == ("0.0.0.0", 8000)


def test_settings_pass_through_from_the_host_and_stay_unset_otherwise(
    clean_settings_env: pytest.MonkeyPatch,
) -> None:
    host_env = REQUIRED_ENV | {
        "GITHUB_TOKEN": "ghp_test_only",
        "ANTHROPIC_API_KEY": "sk-test",
        "PRSAGA_LLM_TASK_QUEUE": "claude",
        "PRSAGA_LLM_ACTIVITIES_PER_SECOND": "0.5",
        "PRSAGA_LOG_FORMAT": "json",
        "PRSAGA_GITHUB_APP_ID": "12345",
    }
    settings = settings_in("worker", clean_settings_env, host_env)
    assert settings.github_token is not None
    assert settings.github_token.get_secret_value() == "ghp_test_only"
    assert settings.anthropic_api_key is not None
    assert settings.anthropic_api_key.get_secret_value() == "sk-test"
    assert (settings.llm_task_queue, settings.llm_activities_per_second) == ("claude", 0.5)
    assert (settings.log_format, settings.github_app_id) == ("json", 12345)
    # Unset on the host means unset in the container (the default), not an empty string.
    bare = container_environment("worker", REQUIRED_ENV)
    assert not {"GITHUB_TOKEN", "PRSAGA_LLM_ACTIVITIES_PER_SECOND"} & bare.keys()


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


@pytest.mark.parametrize("namespace", [None, "reviews"])
@pytest.mark.parametrize("service_name", PRSAGA_SERVICES)
def test_prsaga_processes_use_the_temporal_service_and_the_namespace_it_sets_up(
    service_name: str, namespace: str | None, clean_settings_env: pytest.MonkeyPatch
) -> None:
    host_env = dict(REQUIRED_ENV)
    if namespace:
        host_env["PRSAGA_TEMPORAL_NAMESPACE"] = namespace
    settings = settings_in(service_name, clean_settings_env, host_env)
    services = load_compose(host_env)["services"]
    host, _, port = settings.temporal_address.rpartition(":")
    assert host in services and "healthcheck" in services[host]
    assert [mapping.rsplit(":", 1)[-1] for mapping in services[host]["ports"]] == [port]
    setup = services["temporal-setup"]["environment"]
    assert setup["TEMPORAL_ADDRESS"] == settings.temporal_address
    assert setup["NAMESPACE"] == settings.temporal_namespace == (namespace or "default")
    assert (
        services["temporal-ui"]["environment"]["TEMPORAL_DEFAULT_NAMESPACE"] == setup["NAMESPACE"]
    )


# --- services, dependencies, images ---------------------------------------------------------------


def depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's dependencies and their conditions (long syntax; short means started)."""
    entries = service.get("depends_on") or {}
    if isinstance(entries, list):
        return dict.fromkeys(entries, "service_started")
    return {target: options["condition"] for target, options in entries.items()}


def is_one_shot(service: Mapping[str, Any]) -> bool:
    return service.get("restart", "no") == "no"


def test_dependencies_exist_and_their_conditions_hold() -> None:
    services = load_compose()["services"]
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert condition in DEPENDENCY_CONDITIONS, (name, target, condition)
            if condition == "service_healthy":
                healthcheck = services[target].get("healthcheck") or {}
                assert healthcheck.get("test") not in (None, [], ["NONE"]), target
                assert str(healthcheck.get("disable", False)).lower() != "true", target
            if condition == "service_completed_successfully":
                assert is_one_shot(services[target]), f"{target} never completes"
            # A default service cannot wait for one that only starts with a profile.
            if not service.get("profiles"):
                assert not services[target].get("profiles"), (name, target)


def test_services_start_in_order() -> None:
    services = load_compose()["services"]
    edges = {
        (name, *dep) for name, service in services.items() for dep in depends_on(service).items()
    }
    required = {
        ("temporal-schema", "postgresql", "service_healthy"),
        ("temporal", "temporal-schema", "service_completed_successfully"),
        ("temporal-setup", "temporal", "service_healthy"),
        ("temporal-ui", "temporal", "service_healthy"),
    }
    for name in PRSAGA_SERVICES:
        required |= {
            (name, "temporal", "service_healthy"),
            (name, "temporal-setup", "service_completed_successfully"),
        }
    assert required <= edges


def test_long_running_services_restart_and_one_shot_jobs_run_once() -> None:
    services = load_compose()["services"]
    one_shots = {name for name, service in services.items() if is_one_shot(service)}
    assert one_shots == {"temporal-schema", "temporal-setup"}
    for name in services.keys() - one_shots:
        assert services[name]["restart"] in {"always", "unless-stopped"}, name
    for name in one_shots:
        assert "ports" not in services[name] and "healthcheck" not in services[name]


def test_every_image_is_pinned() -> None:
    services = load_compose()["services"]
    tags: dict[str, str] = {}
    for name, service in services.items():
        repository, _, tag = service["image"].rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {service['image']}"
        tags[repository] = tag
        if repository.startswith("temporalio/"):
            assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"{name}: pin an exact version"
    # The schema the admin tools apply must be the one the server expects.
    assert tags["temporalio/admin-tools"] == tags["temporalio/server"]
    built = [name for name, service in services.items() if "build" in service]
    assert sorted(built) == sorted(PRSAGA_SERVICES)


def test_named_volumes_hold_the_state() -> None:
    config = load_compose()
    declared = set(config["volumes"])
    used = {
        mount.split(":")[0]
        for service in config["services"].values()
        for mount in service.get("volumes", [])
        if not mount.startswith(".")
    }
    assert used == declared
    assert volume_source(config["services"]["postgresql"], "/var/lib/postgresql/data") in declared


def volume_source(service: Mapping[str, Any], target: str) -> str:
    """What a service mounts at ``target`` (short ``source:target[:mode]`` syntax)."""
    sources = [mount.split(":")[0] for mount in service["volumes"] if mount.split(":")[1] == target]
    assert len(sources) == 1, f"{target} is not mounted exactly once"
    return sources[0]


def test_prsaga_services_share_the_image_and_the_state_volume() -> None:
    config = load_compose()
    services = [config["services"][name] for name in PRSAGA_SERVICES]
    assert len({json.dumps(service["build"]) for service in services}) == 1
    assert len({service["image"] for service in services}) == 1
    build = services[0]["build"]
    context = build["context"] if isinstance(build, dict) else build
    assert (COMPOSE_FILE.parent / context / "Dockerfile").resolve() == DOCKERFILE

    state_dir = IMAGE_ENV["PRSAGA_STATE_DIR"]
    sources = {volume_source(service, state_dir) for service in services}
    assert len(sources) == 1 and sources <= set(config["volumes"]), "one named state volume"
    volume_instructions = [args for instruction, args in FINAL_STAGE if instruction == "VOLUME"]
    assert any(state_dir in exec_form(args) for args in volume_instructions)


def test_replicated_workers_scale_without_fixed_host_ports_or_names() -> None:
    for name, knob in (
        ("worker", "PRSAGA_WORKER_REPLICAS"),
        ("llm-worker", "PRSAGA_LLM_WORKER_REPLICAS"),
    ):
        worker = load_compose()["services"][name]
        # Replicas would fight over a fixed host port or container name.
        assert "ports" not in worker and "container_name" not in worker
        assert int(worker["deploy"]["replicas"]) >= 1
        scaled = load_compose(REQUIRED_ENV | {knob: "5"})["services"][name]
        assert scaled["deploy"]["replicas"] == "5"


def test_llm_worker_is_optional_and_polls_the_llm_task_queue(
    clean_settings_env: pytest.MonkeyPatch,
) -> None:
    services = load_compose()["services"]
    assert services["llm-worker"]["profiles"] == ["llm"]
    host_env = REQUIRED_ENV | {"PRSAGA_LLM_TASK_QUEUE": "claude", "PRSAGA_TASK_QUEUE": "reviews"}
    llm = settings_in("llm-worker", clean_settings_env, host_env)
    assert llm.task_queue == llm.llm_task_queue == "claude"
    main = settings_in("worker", clean_settings_env, host_env)
    assert (main.task_queue, main.llm_task_queue) == ("reviews", "claude")


# --- healthchecks, run against what they probe ----------------------------------------------------


async def run(argv: list[str], env: Mapping[str, str], **kwargs: Any) -> int:
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=dict(env),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        **kwargs,
    )
    return await asyncio.wait_for(process.wait(), timeout=60)


def test_postgres_healthcheck_asks_the_server_over_tcp_as_temporals_user() -> None:
    postgresql = load_compose()["services"]["postgresql"]
    argv = healthcheck_argv(postgresql)
    assert argv[0] == "pg_isready"
    assert "--host=127.0.0.1" in argv
    assert f"--username={postgresql['environment']['POSTGRES_USER']}" in argv


@dataclass
class TemporalServer:
    client: Client
    http_port: int


@pytest.fixture(scope="module")
async def temporal_with_http() -> AsyncIterator[TemporalServer]:
    """A dev server of its own, with its frontend HTTP API on a known port."""
    http_port = free_port()
    async with dev_server("--http-port", str(http_port)) as env:
        yield TemporalServer(env.client, http_port)


async def test_temporal_healthcheck_probes_an_endpoint_the_frontend_serves(
    temporal_with_http: TemporalServer,
) -> None:
    temporal = load_compose()["services"]["temporal"]
    argv = healthcheck_argv(temporal)
    assert argv[:4] == ["wget", "-q", "-O", "/dev/null"]
    url = urlsplit(argv[4])
    environment = temporal["environment"]
    # The server listens on every interface of its container, so on 127.0.0.1 too.
    assert environment["BIND_ON_IP"] == "0.0.0.0" and url.hostname == "127.0.0.1"
    assert url.port == int(environment.get("FRONTEND_HTTP_PORT", TEMPORAL_DEFAULT_HTTP_PORT))
    # busybox wget is not here: the same request with urllib, against a real frontend.
    probe = f"http://127.0.0.1:{temporal_with_http.http_port}{url.path}"
    with await asyncio.to_thread(urllib.request.urlopen, probe, timeout=5) as response:
        assert response.status == 200
        assert "serverVersion" in json.load(response)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{free_port()}{url.path}", timeout=5)


@pytest.mark.parametrize("service_name", WORKER_SERVICES)
async def test_worker_healthcheck_passes_on_the_sdk_metrics_endpoint_and_fails_without_it(
    service_name: str,
) -> None:
    argv = healthcheck_argv(load_compose()["services"][service_name])
    assert argv[0] == "python"
    argv[0] = sys.executable
    env = container_environment(service_name, REQUIRED_ENV) | {"PATH": os.environ["PATH"]}
    port = free_port()
    env["PRSAGA_METRICS_ADDRESS"] = f"127.0.0.1:{port}"
    assert await run(argv, env) != 0  # nothing serves metrics yet
    # What the worker serves: the Temporal SDK's Prometheus exporter (runtime telemetry).
    runtime = Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}"))
    )
    assert await run(argv, env) == 0
    del runtime


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[int]:
    """Serve ``app`` on a free local port, yielding the port."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        await task


async def _unreachable_temporal() -> Client:
    raise RuntimeError("Temporal is down")


async def test_webhook_healthcheck_passes_only_while_the_app_reaches_temporal(
    temporal_client: Client, clean_settings_env: pytest.MonkeyPatch
) -> None:
    argv = healthcheck_argv(load_compose()["services"]["webhook"])
    assert argv[0] == "python"
    argv[0] = sys.executable
    env = container_environment("webhook", REQUIRED_ENV) | {"PATH": os.environ["PATH"]}
    settings = settings_in("webhook", clean_settings_env)
    submit = TemporalSubmitter(settings, temporal_client)

    async def test_server() -> Client:
        return temporal_client

    reachable = create_app(settings, submit, ready=TemporalReadiness(test_server))
    async with serving(reachable) as port:
        env["PRSAGA_WEBHOOK_PORT"] = str(port)
        assert await run(argv, env) == 0
    assert await run(argv, env) != 0  # the server is gone
    unreachable = create_app(settings, submit, ready=TemporalReadiness(_unreachable_temporal))
    async with serving(unreachable) as port:
        env["PRSAGA_WEBHOOK_PORT"] = str(port)
        assert await run(argv, env) != 0  # up, but GitHub's deliveries could not be recorded


def test_prsaga_metrics_are_exposed_to_and_scraped_by_prometheus() -> None:
    services = load_compose()["services"]
    scrape = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]
    dns_targets = {
        (name, sd["port"])
        for job in scrape
        for sd in job.get("dns_sd_configs", [])
        for name in sd["names"]
    }
    static_targets = {
        target for job in scrape for sc in job.get("static_configs", []) for target in sc["targets"]
    }
    for name in PRSAGA_SERVICES:
        address = services[name]["environment"]["PRSAGA_METRICS_ADDRESS"]
        host, _, port = address.rpartition(":")
        assert host == "0.0.0.0" and port in services[name]["expose"], name
        assert (name, int(port)) in dns_targets, f"Prometheus does not scrape {name}"
    temporal_port = services["temporal"]["environment"]["PROMETHEUS_ENDPOINT"].rpartition(":")[2]
    assert f"temporal:{temporal_port}" in static_targets
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == ["metrics"]
    mounted = {mount.split(":")[0] for mount in prometheus["volumes"]}
    assert "./" + PROMETHEUS_CONFIG.relative_to(ROOT).as_posix() in mounted


def bind_mounts(service: Mapping[str, Any]) -> dict[str, Path]:
    """A service's bind mounts of repository folders: container path -> repository path."""
    return {
        mount.split(":")[1]: (ROOT / mount.split(":")[0]).resolve()
        for mount in service.get("volumes", [])
        if mount.startswith(".")
    }


def test_grafana_shows_the_provisioned_dashboards_over_the_prometheus_service() -> None:
    services = load_compose()["services"]
    grafana = services["grafana"]
    assert grafana["profiles"] == services["prometheus"]["profiles"] == ["metrics"]
    assert grafana["depends_on"] == {"prometheus": {"condition": "service_started"}}
    mounts = bind_mounts(grafana)
    assert mounts["/etc/grafana/provisioning"] == GRAFANA_DIR / "provisioning"

    # The data source is the Prometheus service, at the port it listens on in its container.
    [datasource] = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    url = urlsplit(datasource["url"])
    prometheus_ports = {port.rpartition(":")[2] for port in services["prometheus"]["ports"]}
    assert (url.hostname, str(url.port)) in {("prometheus", port) for port in prometheus_ports}

    # The dashboard provider reads the folder the dashboards are mounted at, and every panel
    # queries the provisioned data source.
    [provider] = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "dashboards" / "prsaga.yml").read_text()
    )["providers"]
    dashboards = mounts[provider["options"]["path"]]
    assert dashboards == GRAFANA_DIR / "dashboards"
    files = sorted(dashboards.glob("*.json"))
    assert files, "no dashboard to provision"
    for file in files:
        dashboard = json.loads(file.read_text())
        queried = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
        assert queried, file.name
        for panel in queried:
            uids = {panel["datasource"]["uid"]} | {t["datasource"]["uid"] for t in panel["targets"]}
            assert uids == {datasource["uid"]}, f"{file.name}: {panel['title']}"
    home = PurePosixPath(grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert (mounts[str(home.parent)] / home.name).is_file()


# --- the Temporal jobs' scripts -------------------------------------------------------------------


def job_script(service: Mapping[str, Any]) -> Path:
    """The repository file a one-shot job runs (its entrypoint, through its bind mount)."""
    entrypoint = service["entrypoint"]
    assert entrypoint[0] == "/bin/sh"
    for mount in service["volumes"]:
        source, target = mount.split(":")[:2]
        if entrypoint[1].startswith(target + "/"):
            script = ROOT / source / entrypoint[1].removeprefix(target + "/")
            assert script.is_file(), script
            return script
    raise AssertionError(f"{entrypoint[1]} is not in a mounted directory")


def test_temporal_reads_the_dynamic_config_it_is_given() -> None:
    temporal = load_compose()["services"]["temporal"]
    config_path = temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    (source, target, mode) = temporal["volumes"][0].split(":")
    assert mode == "ro" and config_path.startswith(target + "/")
    config = yaml.safe_load((ROOT / source / config_path.removeprefix(target + "/")).read_text())
    # Dynamic config is key -> list of {value, constraints}; a malformed file stops the server.
    assert config and all(
        isinstance(values, list) and all("value" in value for value in values)
        for values in config.values()
    )


def search_attribute_type_name(kind: IndexedValueType.ValueType) -> str:
    """The ``temporal`` CLI's name of a type: INDEXED_VALUE_TYPE_KEYWORD_LIST -> KeywordList."""
    words = IndexedValueType.Name(kind).removeprefix("INDEXED_VALUE_TYPE_").split("_")
    return "".join(word.title() for word in words)


def test_setup_job_registers_exactly_the_search_attributes_prsaga_uses() -> None:
    setup = load_compose()["services"]["temporal-setup"]["environment"]
    registered = dict(pair.split("=", 1) for pair in setup["SEARCH_ATTRIBUTES"].split())
    assert registered == {
        name: search_attribute_type_name(kind) for name, kind in SEARCH_ATTRIBUTES.items()
    }


async def custom_search_attributes(client: Client, namespace: str) -> dict[str, str]:
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return {
        name: search_attribute_type_name(kind) for name, kind in response.custom_attributes.items()
    }


def setup_job_env(client: Client, **overrides: str) -> dict[str, str]:
    """The setup job's environment, pointed at a test server, with the CLI on the PATH."""
    service = load_compose()["services"]["temporal-setup"]
    env = service_environment(service, REQUIRED_ENV) | overrides
    env["TEMPORAL_ADDRESS"] = client.service_client.config.target_host
    env["PATH"] = f"{Path(temporal_cli()).parent}{os.pathsep}{os.environ['PATH']}"
    env["HOME"] = os.environ.get("HOME", "/tmp")
    return env


async def test_setup_job_creates_the_namespace_and_registers_the_attributes_idempotently(
    temporal_with_http: TemporalServer,
) -> None:
    client = temporal_with_http.client
    script = job_script(load_compose()["services"]["temporal-setup"])
    namespace = f"prsaga-{uuid.uuid4().hex[:8]}"
    env = setup_job_env(client, NAMESPACE=namespace)
    expected = dict(pair.split("=", 1) for pair in env["SEARCH_ATTRIBUTES"].split())

    assert await run(["sh", str(script)], env) == 0
    async with asyncio.timeout(20):  # the frontend's search-attribute cache catches up
        while (await custom_search_attributes(client, namespace)).items() < expected.items():
            await asyncio.sleep(0.5)
    # On every `docker compose up` the job runs again, over what is already there.
    assert await run(["sh", str(script)], env) == 0
    # An attribute registered with another type is an error, not silently kept.
    name, kind = next(iter(expected.items()))
    clash = {"Int": "Keyword"}.get(kind, "Int")
    assert await run(["sh", str(script)], env | {"SEARCH_ATTRIBUTES": f"{name}={clash}"}) != 0


async def test_setup_job_gives_up_when_temporal_never_answers(
    temporal_with_http: TemporalServer,
) -> None:
    script = job_script(load_compose()["services"]["temporal-setup"])
    env = setup_job_env(temporal_with_http.client, SETUP_TIMEOUT_SECONDS="2")
    env["TEMPORAL_ADDRESS"] = f"127.0.0.1:{free_port()}"
    async with asyncio.timeout(30):
        assert await run(["sh", str(script)], env) != 0


FAKE_SQL_TOOL = """#!/bin/sh
printf '%s\\n' "$*" >> "$CALLS"
[ "$SQL_PASSWORD" = "$EXPECTED_PASSWORD" ] || exit 3
case "$*" in *"$FAIL_ON"*) [ -n "$FAIL_ON" ] && exit 1 ;; esac
exit 0
"""


async def run_schema_job(tmp_path: Path, fail_on: str = "") -> tuple[int, list[str]]:
    """Run the schema job's script with a stand-in temporal-sql-tool that records its calls."""
    service = load_compose()["services"]["temporal-schema"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / "temporal-sql-tool"
    tool.write_text(FAKE_SQL_TOOL)
    tool.chmod(0o755)
    calls = tmp_path / "calls"
    calls.unlink(missing_ok=True)
    env = service_environment(service, REQUIRED_ENV) | {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "CALLS": str(calls),
        "EXPECTED_PASSWORD": REQUIRED_ENV["POSTGRES_PASSWORD"],
        "FAIL_ON": fail_on,
    }
    code = await run(["sh", str(job_script(service))], env)
    return code, calls.read_text().splitlines() if calls.exists() else []


async def test_schema_job_creates_and_upgrades_both_databases(tmp_path: Path) -> None:
    code, calls = await run_schema_job(tmp_path)
    assert code == 0
    schemas = "/etc/temporal/schema/postgresql/v12"  # where admin-tools ships the schema
    expected = []
    for database, schema in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        expected += [
            f"--database {database} create-database",
            f"--database {database} setup-schema --version 0.0",
            f"--database {database} update-schema --schema-dir {schemas}/{schema}/versioned",
        ]
    assert calls == expected
    # The password reaches the tool through its environment (the stand-in checks), not argv.
    assert not any(REQUIRED_ENV["POSTGRES_PASSWORD"] in call for call in calls)
    service = load_compose()["services"]["temporal-schema"]
    temporal = load_compose()["services"]["temporal"]["environment"]
    assert service["environment"]["SQL_PLUGIN"] == temporal["DB"]
    assert service["environment"]["SQL_HOST"] == temporal["POSTGRES_SEEDS"]


async def test_schema_job_fails_when_a_step_fails(tmp_path: Path) -> None:
    code, calls = await run_schema_job(tmp_path, fail_on="setup-schema")
    assert code != 0
    assert calls[-1].endswith("setup-schema --version 0.0")  # nothing ran after the failure


# --- the Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_runs_as_a_non_root_user() -> None:
    instructions = [instruction for instruction, _ in FINAL_STAGE]
    users = [args for instruction, args in FINAL_STAGE if instruction == "USER"]
    assert users, "the runtime stage sets no USER, so it runs as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert instructions.index("USER") < instructions.index("CMD")
    assert FINAL_STAGE[0][1].startswith("python:3.11-slim")


def test_dockerfile_installs_the_project_and_its_runtime_dependencies_only() -> None:
    stages = dockerfile_stages()
    runs = [
        (index, args) for index, stage in enumerate(stages) for ins, args in stage if ins == "RUN"
    ]
    pip_runs = [
        (index, args) for index, args in runs if re.search(r"\bpip (install|wheel)\b", args)
    ]
    assert pip_runs and all("--no-cache-dir" in args for _, args in pip_runs)
    # Never the test extras: `.[test]` or the optional-dependencies table.
    assert not any(re.search(r"\[test\]|optional-dependencies", args) for _, args in pip_runs)
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


def test_commands_are_real_entry_points() -> None:
    pyproject = tomllib.loads(PYPROJECT.read_text())
    assert pyproject["project"]["scripts"]["prsaga"] == "starter.cli:main"
    assert "worker" in pyproject["tool"]["setuptools"]["py-modules"]
    assert importlib.util.find_spec("worker") is not None
    cmd = exec_form(next(args for instruction, args in FINAL_STAGE if instruction == "CMD"))
    commands = [cmd] + [
        service["command"]
        for name, service in load_compose()["services"].items()
        if name in PRSAGA_SERVICES
    ]
    assert {tuple(command) for command in commands} == {("prsaga", "worker"), ("prsaga", "webhook")}
    for command in commands:
        build_parser().parse_args(command[1:])  # exits (SystemExit) on an unknown subcommand


# --- the example .env -----------------------------------------------------------------------------


def env_example_entries() -> dict[str, tuple[str, bool]]:
    """``NAME -> (value, commented out)`` for every ``NAME=value`` line of the example."""
    entries: dict[str, tuple[str, bool]] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.fullmatch(r"(#?)([A-Z][A-Z0-9_]*)=(.*)", line)
        if match:
            entries[match.group(2)] = (match.group(3), bool(match.group(1)))
    return entries


def test_env_example_documents_what_compose_reads() -> None:
    entries = env_example_entries()
    known = settings_env_names().keys()
    text = COMPOSE_FILE.read_text()
    interpolated = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    required = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?", text))
    passed_through = set().union(
        *(load_compose()["services"][name]["environment"] for name in PRSAGA_SERVICES)
    )
    for name in entries:
        assert name in known or name in interpolated or name in passed_through, name
    # Left active: exactly what the user must fill in; everything else keeps its default.
    active = {name for name, (_, commented) in entries.items() if not commented}
    assert active == required == set(REQUIRED_ENV)
    assert all(entries[name][0] == "" for name in active)
    assert interpolated - known <= entries.keys(), "a compose-only variable is undocumented"
