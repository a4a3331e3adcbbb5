"""A local server speaking the OpenAI Chat Completions API, for the tests and the benchmarks.

prsaga talks to OpenAI-compatible endpoints only through the official ``openai`` SDK; pointing
its ``base_url`` (``{url}/v1``) or Azure endpoint (``{url}``) at this server gives it the same
request checks, completion and error shapes as the real API, without a network::

    fake = FakeChatCompletions(api_key="sk-test")
    with serve_in_thread(fake) as url:
        client = openai.OpenAI(api_key="sk-test", base_url=f"{url}/v1")
        fake.script(ErrorReply(429, headers={"retry-after": "7"}))

Served: ``POST /v1/chat/completions`` (OpenAI, vLLM, Ollama, llama.cpp) and
``POST /openai/deployments/{deployment}/chat/completions?api-version=...`` (Azure OpenAI, the key
in ``api-key``). Scripted replies are the local Messages API server's (errors, delays, raw bodies
for garbage, tool calls whose ``input`` may be a string that is not JSON, text); by default it
calls the offered prsaga tool like that server does (reviewer, verifier, judge).
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prsaga.local.llm_fake.app import (
    DelayReply,
    ErrorReply,
    RawReply,
    ScriptedServer,
    ServerState,
    TextReply,
    ToolUseReply,
    default_tool_call,
    recorded,
    sleep_unless_disconnected,
)
from prsaga.local.serving import serve_app_in_thread

__all__ = [
    "DelayReply",
    "ErrorReply",
    "FakeChatCompletions",
    "RawReply",
    "TextReply",
    "ToolUseReply",
    "serve_in_thread",
]

AZURE_API_VERSIONS = frozenset({"2024-06-01", "2024-10-21", "2025-04-01-preview"})
_ERRORS: Mapping[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


class FakeChatCompletions(ScriptedServer):
    """The server's state and its ASGI application (``app``)."""

    def __init__(self, api_key: str) -> None:
        if not api_key:
            raise ValueError("the local Chat Completions server needs a key to check requests")
        self._state = ServerState(min_cache_tokens=0)
        self.app: Starlette = _build_app(self._state, api_key)


def _build_app(state: ServerState, api_key: str) -> Starlette:
    async def openai(request: Request) -> Response:
        return await handle(request, None)

    async def azure(request: Request) -> Response:
        return await handle(request, request.path_params["deployment"])

    async def handle(request: Request, deployment: str | None) -> Response:
        async def answer(body: Any) -> Response:
            return await _answer(request, state, api_key, body, deployment)

        return await recorded(state, request, await request.body(), answer)

    async def unrouted(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        return _error(status, f"{request.method} {request.url.path} is not served here")

    return Starlette(
        routes=[
            Route("/v1/chat/completions", openai, methods=["POST"]),
            Route("/openai/deployments/{deployment}/chat/completions", azure, methods=["POST"]),
        ],
        exception_handlers={404: unrouted, 405: unrouted},
    )


async def _answer(
    request: Request, state: ServerState, api_key: str, body: Any, deployment: str | None
) -> Response:
    if deployment is None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else ""
    else:
        given = request.headers.get("api-key", "")
        version = request.query_params.get("api-version")
        if version not in AZURE_API_VERSIONS:
            return _error(404, f"api-version {version!r} is not supported")
    if not hmac.compare_digest(given.encode(), api_key.encode()):
        return _error(401, "Incorrect API key provided.")
    if body is None:
        return _error(400, "We could not parse the JSON body of your request.")
    if deployment is not None and isinstance(body, dict):
        body = {**body, "model": body.get("model") or deployment}
    problem = validate_request(body)
    if problem is not None:
        return _error(400, problem)

    reply = state.pop_script(_tool_names(body))
    while isinstance(reply, DelayReply):
        await sleep_unless_disconnected(request, reply.seconds)
        reply = reply.then
    if isinstance(reply, ErrorReply):
        return _error(reply.status, reply.message, headers=reply.headers)
    if isinstance(reply, RawReply):
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    finish = "tool_calls"
    if isinstance(reply, ToolUseReply):
        message["tool_calls"] = [_tool_call(state, reply.name, reply.input)]
        finish = "length" if reply.stop_reason == "max_tokens" else "tool_calls"
    elif isinstance(reply, TextReply):
        message["content"], finish = reply.text, "stop"
    else:
        names = _tool_names(body)
        system = [m["content"] for m in body["messages"] if m["role"] in ("system", "developer")]
        users = [m["content"] for m in body["messages"] if m["role"] == "user"]
        call = default_tool_call(names, _texts(system), _texts(users))
        if call is None:
            message["content"], finish = "This is prsaga's local Chat Completions server.", "stop"
        else:
            message["tool_calls"] = [_tool_call(state, *call)]
    prompt_tokens = max(1, len(json.dumps(body["messages"])) // 4)
    completion_tokens = max(1, len(json.dumps(message)) // 4)
    return JSONResponse(
        {
            "id": state.next_id("chatcmpl"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0},
            },
        }
    )


def _tool_names(body: dict[str, Any]) -> set[Any]:
    return {
        tool.get("function", {}).get("name")
        for tool in body.get("tools") or []
        if isinstance(tool, dict)
    }


def _texts(contents: list[Any]) -> list[str]:
    texts: list[str] = []
    for content in contents:
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [part.get("text", "") for part in content if isinstance(part, dict)]
    return texts


def _tool_call(state: ServerState, name: str, arguments: Any) -> dict[str, Any]:
    """A function call; a string ``arguments`` is sent as is (garbage that is not JSON)."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "id": state.next_id("call"),
        "type": "function",
        "function": {"name": name, "arguments": text},
    }


def _error(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> JSONResponse:
    kind, code = _ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": code}},
        status_code=status,
        headers=dict(headers or {}),
    )


def validate_request(body: Any) -> str | None:
    """What is wrong with a Chat Completions request body, or ``None``."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    if body.get("stream"):
        return "stream: this local server does not stream"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must contain at least one message"
    open_calls: set[Any] = set()
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            return f"Invalid value for '{where}.role'"
        role = message["role"]
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in open_calls:
                return (
                    f"Invalid parameter: '{where}' with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'."
                )
            open_calls.discard(call_id)
            continue
        if open_calls:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages "
                f"responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(sorted(open_calls))}"
            )
        if role == "assistant":
            calls = message.get("tool_calls") or []
            if message.get("content") is None and not calls:
                return f"Invalid value for '{where}.content': expected a string, got null."
            open_calls = {call.get("id") for call in calls if isinstance(call, dict)}
        elif not isinstance(message.get("content"), str | list):
            return f"Invalid value for '{where}.content'"
    if open_calls:
        return "The last assistant message's 'tool_calls' were not answered."
    tools = body.get("tools") or []
    names = set()
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type") != "function":
            return f"Missing required parameter: 'tools[{index}].function'."
        if not isinstance(function.get("parameters", {}), dict):
            return f"Invalid type for 'tools[{index}].function.parameters'"
        names.add(function.get("name"))
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("function", {}).get("name") not in names:
        return "Invalid value for 'tool_choice': the named function is not in 'tools'."
    return None


@contextmanager
def serve_in_thread(
    fake: FakeChatCompletions, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Run ``fake`` on a background thread; yield its URL (without ``/v1``); stop it on exit."""
    with serve_app_in_thread(
        fake.app,
        name="the local Chat Completions server",
        host=host,
        port=port,
        startup_timeout=10.0,
        shutdown_grace=1,
    ) as url:
        yield url
