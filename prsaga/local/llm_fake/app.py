"""The local Messages API: request checks, scripted replies, usage accounting, and the reviewer.

``POST /v1/messages`` (non-streaming) is served, and ``GET /v1/models/{model_id}`` (any
``claude-*`` model exists) for configuration checks. Shapes follow Anthropic's API reference:
the message object, ``usage`` with prompt-cache counts, and the error body
``{"type": "error", "error": {"type": ..., "message": ...}}`` with a ``request-id`` header.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prsaga.local.llm_fake.latency import Latency

API_VERSIONS = frozenset({"2023-01-01", "2023-06-01", "2026-10-21"})
SAMPLING_REMOVED_IN = "2026-10-21"
"""From this API version on, ``temperature``, ``top_p`` and ``top_k`` are rejected, and so are
non-empty ``citations`` on text blocks of user messages."""
_SAMPLING_FIELDS = ("temperature", "top_k", "top_p")
MAX_BODY_BYTES = 32 * 1024 * 1024
"""The Messages API's request size limit."""
MAX_CACHE_BREAKPOINTS = 4
REVIEW_TOOL = "report_findings"
VERIFY_TOOL = "verify_finding"
JUDGE_TOOL = "judge_match"

ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_TOP_LEVEL_FIELDS = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "system",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_k",
        "top_p",
        "tools",
        "tool_choice",
        "thinking",
        "service_tier",
        "container",
        "mcp_servers",
        "context_management",
        "output_config",
        "inference_geo",
        "cache_control",
        "diagnostics",
        "speed",
        "user_profile_id",
        "workspace_id",
    }
)
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


# --- scripted replies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorReply:
    """Answer with an API error; ``error_type`` defaults to Anthropic's type for ``status``."""

    status: int
    message: str = "scripted error"
    error_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DelayReply:
    """Wait ``seconds`` (to trip a client timeout), then answer with ``then`` (default: the
    reviewer). A client that hangs up ends the wait."""

    seconds: float
    then: Reply | None = None


@dataclass(frozen=True)
class RawReply:
    """Answer ``body`` as is: malformed JSON, a proxy's HTML page..."""

    body: str
    status: int = 200
    content_type: str = "application/json"


@dataclass(frozen=True)
class ToolUseReply:
    """Answer with one ``tool_use`` block whose input is ``input`` (valid or not)."""

    input: Any
    name: str = REVIEW_TOOL
    stop_reason: str = "tool_use"


@dataclass(frozen=True)
class TextReply:
    """Answer with text only, no tool use."""

    text: str
    stop_reason: str = "end_turn"


Reply = ErrorReply | DelayReply | RawReply | ToolUseReply | TextReply


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received: headers (without credentials), parsed body, status."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any
    """The parsed JSON body, or ``None`` if it was not JSON."""
    status: int


# --- state --------------------------------------------------------------------------------------


class ServerState:
    """Mutable state shared by the server thread and the test (guarded by a lock)."""

    def __init__(self, min_cache_tokens: int, latency: Latency | None = None) -> None:
        self.latency = latency
        """Answers wait in proportion to their tokens (``None``: at once)."""
        self.lock = threading.Lock()
        self.script: deque[Reply] = deque()
        self.tool_scripts: dict[str, deque[Reply]] = {}
        """Replies for the next requests that offer a given tool (before ``script``)."""
        self.requests: list[RecordedRequest] = []
        self.cache: set[str] = set()
        self.min_cache_tokens = min_cache_tokens
        self._counter = 0

    def next_id(self, prefix: str) -> str:
        with self.lock:
            self._counter += 1
            return f"{prefix}_fake{self._counter:018d}"

    def pop_script(self, tools: set[Any]) -> Reply | None:
        with self.lock:
            for tool in sorted(t for t in tools if isinstance(t, str)):
                if self.tool_scripts.get(tool):
                    return self.tool_scripts[tool].popleft()
            return self.script.popleft() if self.script else None

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(request)


class ScriptedServer:
    """What the tests do with a local model server: script its replies, read its requests."""

    _state: ServerState

    def __repr__(self) -> str:
        # Never the key.
        return f"{type(self).__name__}(requests={len(self.requests)})"

    def script(self, *replies: Reply, tool: str | None = None) -> None:
        """Queue replies for the next valid requests (that offer ``tool``, when given), in
        order; then the default answers again (the reviewer, the verifier, the judge)."""
        with self._state.lock:
            if tool is None:
                self._state.script.extend(replies)
            else:
                self._state.tool_scripts.setdefault(tool, deque()).extend(replies)

    @property
    def pending(self) -> int:
        """Scripted replies not used yet."""
        with self._state.lock:
            return len(self._state.script) + sum(map(len, self._state.tool_scripts.values()))

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (headers without credentials), oldest first."""
        with self._state.lock:
            return list(self._state.requests)

    def reset(self) -> None:
        """Forget the script, the recorded requests and the prompt cache."""
        with self._state.lock:
            self._state.script.clear()
            self._state.tool_scripts.clear()
            self._state.requests.clear()
            self._state.cache.clear()


# --- the application ----------------------------------------------------------------------------


CREDENTIAL_HEADERS = frozenset({"x-api-key", "api-key", "authorization"})


async def recorded(
    state: ServerState,
    request: Request,
    raw: bytes,
    answer: Callable[[Any], Awaitable[Response]],
) -> Response:
    """``answer`` to the request's parsed JSON body (``None`` if it is not JSON), recorded in
    ``state`` with its headers (credentials left out) and status."""
    try:
        body: Any = json.loads(raw) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = None
    response = await answer(body)
    state.record(
        RecordedRequest(
            method=request.method,
            path=request.url.path,
            headers={
                name: value
                for name, value in request.headers.items()
                if name not in CREDENTIAL_HEADERS
            },
            body=body,
            status=response.status_code,
        )
    )
    return response


Platform = Literal["anthropic", "bedrock", "vertex"]
BEDROCK_PATH = "/model/{model}/invoke"
VERTEX_PATH = "/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{target}"
"""``{target}`` is ``MODEL:rawPredict``."""


def build_app(state: ServerState, api_key: str) -> Starlette:
    """The ASGI application serving the Messages API against ``state``: ``POST /v1/messages``
    as Anthropic serves it, ``POST /model/{model}/invoke`` as Amazon Bedrock does and
    ``POST /v1/projects/.../models/{model}:rawPredict`` as Google Vertex does (the model in the
    path, ``anthropic_version`` in the body; the same checks and answers otherwise)."""

    async def messages(request: Request) -> Response:
        return await handle(request, "anthropic", None)

    async def bedrock(request: Request) -> Response:
        return await handle(request, "bedrock", request.path_params["model"])

    async def vertex(request: Request) -> Response:
        model, _, method = request.path_params["target"].rpartition(":")
        if method != "rawPredict" or not model:
            return _error(404, f"{request.url.path} is not served here", state.next_id("req"))
        return await handle(request, "vertex", model)

    async def handle(request: Request, platform: Platform, model: str | None) -> Response:
        request_id = state.next_id("req")
        raw = await request.body()

        async def answer(body: Any) -> Response:
            return await _answer(request, state, api_key, raw, body, request_id, platform, model)

        return await recorded(state, request, raw, answer)

    async def unrouted(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = f"{request.method} {request.url.path} is not served here"
        return _error(status, message, state.next_id("req"))

    async def model(request: Request) -> Response:
        request_id = state.next_id("req")
        if not _authenticated(request, api_key, "anthropic"):
            return _error(401, "invalid x-api-key", request_id)
        model_id = request.path_params["model_id"]
        if not model_id.startswith("claude-"):
            return _error(404, f"model: {model_id}", request_id)
        answer = {
            "type": "model",
            "id": model_id,
            "display_name": model_id,
            "created_at": "2025-01-01T00:00:00Z",
        }
        return JSONResponse(answer, headers={"request-id": request_id})

    return Starlette(
        routes=[
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/models/{model_id}", model, methods=["GET"]),
            Route(BEDROCK_PATH, bedrock, methods=["POST"]),
            Route(VERTEX_PATH, vertex, methods=["POST"]),
        ],
        exception_handlers={404: unrouted, 405: unrouted},
    )


async def _answer(
    request: Request,
    state: ServerState,
    api_key: str,
    raw: bytes,
    body: Any,
    request_id: str,
    platform: Platform,
    path_model: str | None,
) -> Response:
    if not _authenticated(request, api_key, platform):
        return _error(401, "invalid x-api-key", request_id)
    if platform == "anthropic":
        version = request.headers.get("anthropic-version")
        if version is None:
            return _error(400, "anthropic-version: header is required", request_id)
    if len(raw) > MAX_BODY_BYTES:
        return _error(413, "Request exceeds the maximum allowed number of bytes.", request_id)
    if body is None:
        return _error(400, "There was an error parsing the body of your request.", request_id)
    if platform != "anthropic":
        # Bedrock and Vertex take the model from the path and the version from the body.
        if not isinstance(body, dict) or "model" in body:
            return _error(400, "model: Extra inputs are not permitted", request_id)
        version = body.pop("anthropic_version", None)
        if version is None:
            return _error(400, "anthropic_version: Field required", request_id)
        body["model"] = path_model
    if version not in API_VERSIONS:
        return _error(400, f"anthropic-version: invalid version {version!r}", request_id)
    problem = validate_request(body, version)
    if problem is not None:
        return _error(400, problem, request_id)

    reply = state.pop_script(
        {tool.get("name") for tool in body.get("tools") or [] if isinstance(tool, dict)}
    )
    while isinstance(reply, DelayReply):
        await sleep_unless_disconnected(request, reply.seconds)
        reply = reply.then
    if isinstance(reply, ErrorReply):
        return _error(
            reply.status,
            reply.message,
            request_id,
            error_type=reply.error_type,
            headers=reply.headers,
        )
    if isinstance(reply, RawReply):
        return Response(
            reply.body,
            status_code=reply.status,
            media_type=reply.content_type,
            headers={"request-id": request_id},
        )
    if isinstance(reply, ToolUseReply):
        content = [_tool_use(state, reply.name, reply.input)]
        stop_reason = reply.stop_reason
    elif isinstance(reply, TextReply):
        content = [{"type": "text", "text": reply.text}]
        stop_reason = reply.stop_reason
    else:
        content, stop_reason = _default_reply(state, body)
    message = {
        "id": state.next_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": _usage(state, body, content),
    }
    if state.latency is not None:
        await sleep_unless_disconnected(request, state.latency.seconds(message["usage"]))
    return JSONResponse(message, headers={"request-id": request_id})


def _authenticated(request: Request, api_key: str, platform: Platform) -> bool:
    """The key as each platform's client sends it: ``x-api-key`` or a bearer token (the SDKs
    send ``Authorization: Bearer <key>`` since 2.0; the API reads ``x-api-key`` first); on
    Bedrock a Bedrock API key as a bearer token, or an AWS SigV4 signature whose access key id
    is the key (its shape is checked, not its signature); on Vertex an OAuth access token."""
    given_key = request.headers.get("x-api-key") if platform == "anthropic" else None
    if given_key is None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if platform == "bedrock" and scheme == "AWS4-HMAC-SHA256":
            credential = token.split(",")[0].strip().removeprefix("Credential=")
            given_key = credential.split("/")[0] if "/bedrock/aws4_request" in credential else ""
        else:
            given_key = token.strip() if scheme.lower() == "bearer" else ""
    return hmac.compare_digest(given_key.encode(), api_key.encode())


async def sleep_unless_disconnected(request: Request, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(left, 0.05))
        if await request.is_disconnected():
            return


def _error(
    status: int,
    message: str,
    request_id: str,
    *,
    error_type: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    kind = error_type or ERROR_TYPES.get(
        status, "api_error" if status >= 500 else "invalid_request_error"
    )
    return JSONResponse(
        {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id},
        status_code=status,
        headers={"request-id": request_id, **(headers or {})},
    )


# --- request validation -------------------------------------------------------------------------


def validate_request(body: Any, version: str = SAMPLING_REMOVED_IN) -> str | None:
    """What is wrong with a Messages request body, in the API's words, or ``None``."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    allowed = _TOP_LEVEL_FIELDS
    if version >= SAMPLING_REMOVED_IN:
        allowed = allowed - set(_SAMPLING_FIELDS)
    extra = sorted(set(body) - allowed)
    if extra:
        return f"{extra[0]}: Extra inputs are not permitted"
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            return f"{name}: Field required"
    if not isinstance(body["model"], str) or not body["model"]:
        return "model: Input should be a valid string"
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return "max_tokens: Input should be an integer greater than or equal to 1"
    if body.get("stream"):
        return "stream: this local server does not stream; send stream=false"
    temperature = body.get("temperature")
    if temperature is not None and (
        not isinstance(temperature, (int, float)) or not 0 <= temperature <= 1
    ):
        return "temperature: Input should be a number between 0 and 1"
    return (
        _check_system(body.get("system"))
        or _check_tools(body.get("tools"), body.get("tool_choice"))
        or _check_messages(body["messages"], citations_allowed=version < SAMPLING_REMOVED_IN)
        or _check_cache_control(body)
    )


def _check_system(system: Any) -> str | None:
    if system is None or isinstance(system, str):
        return None
    if not isinstance(system, list):
        return "system: Input should be a valid string or a list of text blocks"
    for index, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            return f"system.{index}: Input tag should be 'text'"
        problem = _check_text_block(block, f"system.{index}")
        if problem:
            return problem
    return None


def _check_tools(tools: Any, tool_choice: Any) -> str | None:
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list):
            return "tools: Input should be a valid list"
        for index, tool in enumerate(tools):
            where = f"tools.{index}"
            if not isinstance(tool, dict):
                return f"{where}: Input should be an object"
            if tool.get("type", "custom") != "custom":
                names.add(str(tool.get("name", "")))
                continue  # a server tool: its own schema, not checked here
            name = tool.get("name")
            if not isinstance(name, str) or not _TOOL_NAME.match(name):
                return f"{where}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
            if name in names:
                return f"tools: Tool names must be unique (found {name!r} twice)"
            schema = tool.get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                return f"{where}.input_schema.type: Input should be 'object'"
            names.add(name)
    if tool_choice is None:
        return None
    if not isinstance(tool_choice, dict) or tool_choice.get("type") not in (
        "auto",
        "any",
        "tool",
        "none",
    ):
        return "tool_choice: Input tag should be 'auto', 'any', 'tool' or 'none'"
    if tool_choice["type"] in ("any", "tool") and not names:
        return "tool_choice: tool_choice may only be specified while providing tools."
    if tool_choice["type"] == "tool" and tool_choice.get("name") not in names:
        return f"tool_choice.name: Tool {tool_choice.get('name')!r} not found in tools"
    return None


def _check_messages(messages: Any, *, citations_allowed: bool) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    pending_tool_uses: set[str] = set()
    for index, message in enumerate(messages):
        where = f"messages.{index}"
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"{where}.role: Input should be 'user' or 'assistant'"
        content = message.get("content")
        if isinstance(content, str):
            if not content and index < len(messages) - 1:
                return f"{where}: all messages must have non-empty content"
            blocks: list[Any] = []
        elif isinstance(content, list):
            if not content and not (index == len(messages) - 1 and message["role"] == "assistant"):
                return f"{where}: all messages must have non-empty content"
            blocks = content
        else:
            return f"{where}.content: Input should be a valid string or list of blocks"
        for block_index, block in enumerate(blocks):
            problem = _check_block(block, f"{where}.content.{block_index}", message["role"])
            if problem:
                return problem
            if message["role"] == "user" and block.get("citations") and not citations_allowed:
                return f"{where}.content.{block_index}.citations: Extra inputs are not permitted"
        results = [b["tool_use_id"] for b in blocks if b.get("type") == "tool_result"]
        if pending_tool_uses:
            missing = sorted(pending_tool_uses - set(results))
            if message["role"] != "user" or missing:
                return (
                    f"{where}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing or sorted(pending_tool_uses))}. Each "
                    "`tool_use` block must have a corresponding `tool_result` block in the next "
                    "message."
                )
            first_other = next(
                (i for i, b in enumerate(blocks) if b.get("type") != "tool_result"), len(blocks)
            )
            if first_other < len(results):
                return f"{where}: `tool_result` blocks must come first in the message content"
        unexpected = sorted(set(results) - pending_tool_uses)
        if unexpected:
            return (
                f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{', '.join(unexpected)}. Each `tool_result` block must have a corresponding "
                "`tool_use` block in the previous message."
            )
        pending_tool_uses = {b["id"] for b in blocks if b.get("type") == "tool_use"}
    return None


def _check_block(block: Any, where: str, role: str) -> str | None:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return f"{where}: Input should be a content block object"
    kind = block["type"]
    if kind == "text":
        return _check_text_block(block, where)
    if kind == "tool_use":
        if role != "assistant":
            return f"{where}: tool_use blocks may only appear in assistant messages"
        if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
            return f"{where}: tool_use blocks need an id and a name"
        if not isinstance(block.get("input"), dict):
            return f"{where}.input: Input should be a valid dictionary"
        return None
    if kind == "tool_result":
        if role != "user":
            return f"{where}: tool_result blocks may only appear in user messages"
        if not isinstance(block.get("tool_use_id"), str):
            return f"{where}.tool_use_id: Field required"
        content = block.get("content")
        if content is not None and not isinstance(content, (str, list)):
            return f"{where}.content: Input should be a valid string or list of blocks"
        if "is_error" in block and not isinstance(block["is_error"], bool):
            return f"{where}.is_error: Input should be a valid boolean"
        return None
    if kind in ("image", "document", "thinking", "redacted_thinking", "search_result"):
        return None
    return f"{where}.type: Input tag {kind!r} does not match any of the expected tags"


def _check_text_block(block: dict[str, Any], where: str) -> str | None:
    if not isinstance(block.get("text"), str) or not block["text"]:
        return f"{where}: text content blocks must be non-empty"
    return None


def _check_cache_control(body: dict[str, Any]) -> str | None:
    breakpoints = [segment for segment in _segments(body) if "cache_control" in segment]
    for segment in breakpoints:
        control = segment["cache_control"]
        if not isinstance(control, dict) or control.get("type") != "ephemeral":
            return "cache_control.type: Input should be 'ephemeral'"
        if control.get("ttl", "5m") not in ("5m", "1h"):
            return "cache_control.ttl: Input should be '5m' or '1h'"
    if len(breakpoints) > MAX_CACHE_BREAKPOINTS:
        return (
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(breakpoints)}."
        )
    return None


# --- usage and prompt caching -------------------------------------------------------------------


def _segments(body: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The prompt's parts in cache-prefix order: tools, system, then every message's blocks."""
    yield from body.get("tools") or []
    system = body.get("system")
    if isinstance(system, str):
        yield {"type": "text", "text": system}
    elif isinstance(system, list):
        yield from system
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            yield {"type": "text", "text": content}
        elif isinstance(content, list):
            yield from content


def _tokens(segment: Mapping[str, Any]) -> int:
    """About four characters a token: text for text blocks, the JSON of anything else."""
    if segment.get("type") == "text" and isinstance(segment.get("text"), str):
        text = segment["text"]
    else:
        text = json.dumps(
            {k: v for k, v in segment.items() if k != "cache_control"}, sort_keys=True
        )
    return max(1, math.ceil(len(text) / 4))


def _usage(state: ServerState, body: Mapping[str, Any], content: list[Any]) -> dict[str, Any]:
    """Token counts as the API reports them, with prompt caching simulated.

    Every ``cache_control`` block ends a cacheable prefix. The longest prefix seen before is read
    from the cache; the rest up to the last breakpoint is written to it; what follows the last
    breakpoint is plain input. Prefixes shorter than ``min_cache_tokens`` are never cached, as
    the real API does below its per-model minimum.
    """
    digest = hashlib.sha256(str(body.get("model")).encode())
    total = cached_upto = 0
    breakpoints: list[tuple[str, int]] = []
    for segment in _segments(body):
        stable = {k: v for k, v in segment.items() if k != "cache_control"}
        digest.update(json.dumps(stable, sort_keys=True).encode())
        total += _tokens(segment)
        if "cache_control" in segment and total >= state.min_cache_tokens:
            breakpoints.append((digest.hexdigest(), total))
    with state.lock:
        for key, prefix_tokens in breakpoints:
            if key in state.cache:
                cached_upto = prefix_tokens
        state.cache.update(key for key, _ in breakpoints)
    written_upto = breakpoints[-1][1] if breakpoints else 0
    creation = max(0, written_upto - cached_upto)
    output = max(1, math.ceil(len(json.dumps(content)) / 4))
    return {
        "input_tokens": total - max(written_upto, cached_upto),
        "output_tokens": output,
        "cache_creation_input_tokens": creation,
        "cache_read_input_tokens": cached_upto,
        "cache_creation": {"ephemeral_5m_input_tokens": creation, "ephemeral_1h_input_tokens": 0},
        "service_tier": "standard",
    }


# --- the default behaviour: a deterministic reviewer --------------------------------------------


def _tool_use(state: ServerState, name: str, tool_input: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": state.next_id("toolu"), "name": name, "input": tool_input}


def _default_reply(state: ServerState, body: Mapping[str, Any]) -> tuple[list[Any], str]:
    tool_names = {tool.get("name") for tool in body.get("tools") or [] if isinstance(tool, dict)}
    choice = body.get("tool_choice") or {"type": "auto"}
    call = (
        default_tool_call(tool_names, system_texts(body.get("system")), user_texts(body))
        if choice.get("type") != "none"
        else None
    )
    if call is not None:
        return [_tool_use(state, *call)], "tool_use"
    text = (
        "This is prsaga's local Messages API server. It reviews diffs through the "
        f"{REVIEW_TOOL} tool and has nothing else to say."
    )
    return [{"type": "text", "text": text}], "end_turn"


def default_tool_call(
    tool_names: set[Any], system: list[str], texts: list[str]
) -> tuple[str, dict[str, Any]] | None:
    """The call the local model makes when offered one of prsaga's tools, or ``None``: the
    reviewer's findings, the verifier's verdict, or the quality benchmark judge's matches.
    Shared by the local Messages and Chat Completions servers."""
    if REVIEW_TOOL in tool_names:
        return REVIEW_TOOL, {
            "findings": review(fenced(texts, "diff"), requested_categories(system))
        }
    if VERIFY_TOOL in tool_names:
        return VERIFY_TOOL, verify(texts)
    if JUDGE_TOOL in tool_names:
        return JUDGE_TOOL, judge(texts)
    return None


_CATEGORIES_LINE = re.compile(r"^report-categories:[ \t]*(?P<names>.*)$", re.MULTILINE)


def system_texts(system: Any) -> list[str]:
    if isinstance(system, str):
        return [system]
    return [block.get("text", "") for block in system or [] if isinstance(block, dict)]


def requested_categories(system: list[str]) -> frozenset[str] | None:
    """The categories the system prompt's ``report-categories:`` line names (``None``: all)."""
    for text in system:
        match = _CATEGORIES_LINE.search(text)
        if match:
            return frozenset(name.strip() for name in match["names"].split(",") if name.strip())
    return None


def user_texts(body: Mapping[str, Any]) -> list[str]:
    """The text blocks of the user's messages, in order."""
    found: list[str] = []
    for message in body.get("messages") or []:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for block in blocks or []:
            if isinstance(block, dict) and block.get("type") == "text":
                found.append(block.get("text", ""))
    return found


def fenced(texts: list[str], tag: str) -> list[str]:
    """The contents of the ``<tag_NONCE>...</tag_NONCE>`` fences in ``texts`` (each once, first
    seen first)."""
    pattern = re.compile(
        rf"<{tag}_(?P<nonce>[0-9a-f]{{8,64}})>\n(?P<body>.*?)\n</{tag}_(?P=nonce)>", re.DOTALL
    )
    found: list[str] = []
    for text in texts:
        for match in pattern.finditer(text):
            if match["body"] not in found:
                found.append(match["body"])
    return found


_CODE_LINE = re.compile(r"^ *(?P<number>\d+) [ +] (?P<text>.*)$")


def verify(texts: list[str]) -> dict[str, Any]:
    """The local verifier: a finding is confirmed when the code it quotes is on the line it
    names in the code shown, refuted when it is not; without a quote, confirmed with the
    least confidence the default threshold keeps."""
    findings, code = fenced(texts, "finding"), fenced(texts, "code")
    try:
        claim = json.loads(findings[0]) if findings else {}
    except json.JSONDecodeError:
        claim = {}
    lines = {
        int(match["number"]): match["text"]
        for block in code
        for match in map(_CODE_LINE.match, block.split("\n"))
        if match
    }
    evidence = (claim.get("evidence") or "").strip()
    first = claim.get("line")
    last = claim.get("end_line") or first
    if not evidence:
        return {"verdict": "confirmed", "confidence": 80, "reason": "nothing quoted to check"}
    shown = [lines.get(n, "") for n in range(first or 0, (last or 0) + 1)]
    if any(evidence in line for line in shown):
        return {"verdict": "confirmed", "confidence": 95, "reason": "the quoted code is there"}
    return {"verdict": "refuted", "confidence": 90, "reason": "the quoted code is not there"}


_WORD = re.compile(r"[a-z_][a-z0-9_]{3,}")


def judge(texts: list[str]) -> dict[str, Any]:
    """The local judge: a candidate matches the golden comments that share at least a third of
    their words (four letters or more) with its title and comment (a stand-in that exercises
    the plumbing, not a judgement)."""
    candidates, goldens = fenced(texts, "candidate"), fenced(texts, "golden")
    try:
        claim = json.loads(candidates[0]) if candidates else {}
        golden = json.loads(goldens[0]) if goldens else []
    except json.JSONDecodeError:
        claim, golden = {}, []
    said = f"{claim.get('title', '')} {claim.get('comment', '')}" if isinstance(claim, dict) else ""
    words = set(_WORD.findall(said.lower()))
    matches = []
    for index, comment in enumerate(golden if isinstance(golden, list) else []):
        other = set(_WORD.findall(str(comment).lower()))
        if words and other and len(words & other) / len(other) >= 1 / 3:
            matches.append(index)
    return {"matches": matches, "reason": "word overlap"}


@dataclass(frozen=True)
class DiffLine:
    number: int | None
    marker: str
    text: str


@dataclass
class DiffHunk:
    path: str
    lines: list[DiffLine] = field(default_factory=list)


_FILE_HEADER = re.compile(r'^file: (?P<path>"(?:[^"\\]|\\.)*")')
_LINE = re.compile(r"^ *(?P<number>\d*) (?P<marker>[ +-]) (?P<text>.*)$")


def parse_rendered_diff(text: str) -> list[DiffHunk]:
    """The hunks of a diff in prsaga's prompt format (``diff_render.render_chunk``)."""
    hunks: list[DiffHunk] = []
    path: str | None = None
    for line in text.split("\n"):
        if header := _FILE_HEADER.match(line):
            path = json.loads(header["path"])
        elif line.startswith("@@") and path is not None:
            hunks.append(DiffHunk(path=path))
        elif hunks and (match := _LINE.match(line)):
            number = int(match["number"]) if match["number"] else None
            hunks[-1].lines.append(DiffLine(number, match["marker"], match["text"]))
    return hunks


# Each rule looks at added lines only and quotes the line it fires on as evidence.
_EVAL = re.compile(r"(?<![\w.])(?P<call>eval|exec)\s*\(")
_BARE_EXCEPT = re.compile(r"^\s*except\s*:")
_NONE_COMPARISON = re.compile(r"(?P<op>==|!=)\s*None\b")
_TODO = re.compile(r"(#|//|/\*|<!--|--)\s*.*\b(?P<tag>TODO|FIXME|XXX)\b")
_ISSUE_REFERENCE = re.compile(r"#\d+|\b[A-Z][A-Z0-9]+-\d+\b|https?://")
_STRING_INIT = re.compile(
    r"^\s*(?P<name>[A-Za-z_]\w*)\s*=\s*(?:[rbuf]?(?:''|\"\")|str\(\))\s*(?:#.*)?$"
)
_AUGMENTED_ADD = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*\+=")
_LOOP_HEADER = re.compile(r"^\s*(?:async\s+)?(?:for|while)\b.*:\s*(?:#.*)?$")
_BLOCK_HEADER = re.compile(r":\s*(?:#.*)?$")
_BASE_INIT = re.compile(
    r"^(?P<indent>\s*)(?P<base>[A-Za-z_][\w.]*)\.__init__\(self(?P<rest>\s*[,)].*)$"
)


def review(diffs: list[str], categories: frozenset[str] | None) -> list[dict[str, Any]]:
    """Findings for simple, real patterns on the added lines of ``diffs``, in ``categories``.

    A pattern matcher by design: it never reads the diff as instructions, so text in a pull
    request cannot change what it reports.
    """
    findings = [
        finding
        for diff in diffs
        for hunk in parse_rendered_diff(diff)
        for finding in _review_hunk(hunk)
    ]
    if categories is not None:
        findings = [f for f in findings if f["category"] in categories]
    return findings


def _review_hunk(hunk: DiffHunk) -> Iterator[dict[str, Any]]:
    python = PurePosixPath(hunk.path).suffix in (".py", ".pyi")
    string_names: set[str] = set()
    blocks: list[tuple[int, bool]] = []  # (indentation, is a loop) of the open block headers
    for line in hunk.lines:
        if line.marker == "-" or line.number is None:
            continue
        text = line.text
        code = text.strip()
        indent = len(text) - len(text.lstrip())
        if python and code and not code.startswith("#"):
            blocks = [(level, loop) for level, loop in blocks if level < indent]
            if init := _STRING_INIT.match(text):
                string_names.add(init["name"])
            if line.marker == "+":
                yield from _python_findings(hunk.path, line, string_names, blocks)
            if _BLOCK_HEADER.search(text):
                blocks.append((indent, bool(_LOOP_HEADER.match(text))))
        if (
            line.marker == "+"
            and (todo := _TODO.search(text))
            and not _ISSUE_REFERENCE.search(text)
        ):
            yield _finding(
                hunk.path,
                line,
                "info",
                "docs",
                f"{todo['tag']} without a tracking issue",
                f"This {todo['tag']} note has no issue reference, so it is easy to forget. Open "
                "an issue and link it here (or do the work in this pull request).",
            )


def _python_findings(
    path: str, line: DiffLine, string_names: set[str], blocks: list[tuple[int, bool]]
) -> Iterator[dict[str, Any]]:
    text = line.text
    if call := _EVAL.search(text):
        yield _finding(
            path,
            line,
            "high",
            "security",
            f"`{call['call']}()` runs arbitrary code",
            f"`{call['call']}()` executes its argument as Python. If any part of it can come "
            "from outside the program, this is remote code execution. Parse data with "
            "`ast.literal_eval` or `json.loads`, or dispatch through an explicit table.",
        )
    if _BARE_EXCEPT.match(text):
        yield _finding(
            path,
            line,
            "medium",
            "correctness",
            "Bare `except:` catches everything",
            "A bare `except:` also catches `KeyboardInterrupt` and `SystemExit` and hides real "
            "errors. Catch the exceptions this code can handle, or at least `Exception`.",
            suggestion=re.sub(r"except\s*:", "except Exception:", text, count=1),
        )
    if comparison := _NONE_COMPARISON.search(text):
        replacement = "is None" if comparison["op"] == "==" else "is not None"
        yield _finding(
            path,
            line,
            "low",
            "style",
            f"Compare with `{replacement}`, not `{comparison['op']} None`",
            f"`None` is a singleton: test it with `{replacement}`. `{comparison['op']}` calls "
            "`__eq__`, which objects may override (numpy arrays, ORM columns).",
            suggestion=_NONE_COMPARISON.sub(
                lambda m: "is None" if m["op"] == "==" else "is not None", text
            ),
        )
    if (
        (augmented := _AUGMENTED_ADD.match(text))
        and augmented["name"] in string_names
        and any(loop for _, loop in blocks)
    ):
        name = augmented["name"]
        yield _finding(
            path,
            line,
            "low",
            "performance",
            f"String `{name}` built with `+=` in a loop",
            f"Each `{name} += ...` copies the whole string built so far, so the loop is "
            f"quadratic in the output size. Collect the parts in a list and `''.join()` them "
            "after the loop.",
        )
    if (base := _BASE_INIT.match(text)) and base["base"] != "super()":
        rest = base["rest"].lstrip()
        arguments = rest[1:].lstrip() if rest.startswith(",") else rest
        yield _finding(
            path,
            line,
            "low",
            "style",
            "Call `super().__init__()` instead of the base class directly",
            f"`{base['base']}.__init__(self, ...)` hard-codes the base class and skips the "
            "method resolution order; `super().__init__()` keeps working if the class "
            "hierarchy changes.",
            suggestion=f"{base['indent']}super().__init__({arguments}",
        )


def _finding(
    path: str,
    line: DiffLine,
    severity: str,
    category: str,
    title: str,
    explanation: str,
    *,
    suggestion: str | None = None,
) -> dict[str, Any]:
    assert line.number is not None
    finding: dict[str, Any] = {
        "path": path,
        "line": line.number,
        "severity": severity,
        "category": category,
        "title": title,
        "explanation": explanation,
        "evidence": line.text.strip(),
    }
    if suggestion is not None:
        finding["suggestion"] = suggestion
    return finding
