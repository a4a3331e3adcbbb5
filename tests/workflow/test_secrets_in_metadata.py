# --- A token pasted in the pull request's own text never reaches history, memo, query,
# logs or prompts (issue 12, item 4) ---
from __future__ import annotations

import base64
import copy
import json
import logging
from typing import Any

import pytest

from prsaga.local.llm_fake import FakeMessages
from prsaga.review.redact import MASK
from prsaga.schema import ReviewStep, WaitForReviewInput
from tests.conftest import ANTHROPIC_KEY, running_harness
from workflows.pull_request import PullRequestWorkflow

# Built at run time, so that this file holds no secret-looking literal.
PAT = "ghp_" + "R7kQ2mZp" * 4 + "Xy9W"
AWS_KEY = "AKIA" + "Q3ZB7YH2" + "LM5TN4WX"
SLACK_TOKEN = "xoxb-" + "2815093746-4619273058-" + "AbCdEfGh1jKlMnOp"
KEY_BODY = ["MIIEowIBAAKCAQEA" + "7bq2Xw9Lp4Rt" * 4, "Zq8Vn3Jd6Hs1Kf0Gm5Tc2Yw7" * 2 + "AB=="]
PRIVATE_KEY = "\n".join(
    ["-----BEGIN RSA PRIVATE KEY-----", *KEY_BODY, "-----END RSA PRIVATE KEY-----"]
)
SECRETS = {
    "github token": PAT,
    "aws key": AWS_KEY,
    "slack token": SLACK_TOKEN,
    **{f"private key line {n}": line for n, line in enumerate(KEY_BODY)},
}


def leaked(text: str) -> list[str]:
    """Which secrets ``text`` holds, whole or by the part a mask never keeps (their tails)."""
    return [name for name, value in SECRETS.items() if value in text or value[-12:] in text]


def decoded_payloads(value: Any) -> list[str]:
    """Every payload's data in a history (or memo) as JSON, decoded: the JSON form holds
    payloads in base64, where a plain search would never find a secret."""
    found: list[str] = []
    if isinstance(value, dict):
        if isinstance(value.get("data"), str) and "metadata" in value:
            found.append(base64.b64decode(value["data"]).decode("utf-8", "replace"))
        for item in value.values():
            found += decoded_payloads(item)
    elif isinstance(value, list):
        for item in value:
            found += decoded_payloads(item)
    return found


@pytest.fixture
def messages_api(messages_server: tuple[FakeMessages, str]) -> tuple[FakeMessages, str]:
    messages_server[0].reset()
    return messages_server


async def test_tokens_in_title_body_branch_and_commit_messages_stay_out(
    temporal_client, github, tmp_path, messages_api, caplog
):
    caplog.set_level(logging.DEBUG)
    fake, url = messages_api
    claude = {"anthropic_api_key": ANTHROPIC_KEY, "anthropic_base_url": url}
    async with running_harness(temporal_client, github, tmp_path, **claude) as h:
        ref, source = h.pr.ref, h.pr.source
        pull = copy.deepcopy(source.pull)
        pull["title"] = f"Rotate {PAT} and {AWS_KEY}"
        pull["body"] = f"Old Slack token: {SLACK_TOKEN}\nOld deploy key:\n{PRIVATE_KEY}\n"
        branch = f"rotate-{AWS_KEY}/{PAT}"
        pull["head"].update(ref=branch, label=f"{ref.owner}:{branch}")
        h.github.seed_pull_request(pull, source.files, source.contents)
        head = h.github.push(
            ref.owner,
            ref.repo,
            ref.number,
            contents={"NOTES.md": "rotated\n"},
            message=f"Rotate {PAT}\n\n{SLACK_TOKEN}\n{PRIVATE_KEY}\n",
        )
        payload = copy.deepcopy(h.pr.webhook_payload)
        payload["action"] = "synchronize"
        payload["pull_request"].update(title=pull["title"], body=pull["body"])
        payload["pull_request"]["head"].update(sha=head, ref=branch, label=pull["head"]["label"])
        response = await h.deliver(payload)
        assert response.status_code == 202, response.text

        handle = h.client.get_workflow_handle_for(PullRequestWorkflow.run, ref.workflow_id)
        state = await handle.execute_update(
            PullRequestWorkflow.wait_for_review, WaitForReviewInput()
        )
        queried = await handle.query(PullRequestWorkflow.get_state)
        history = (await handle.fetch_history()).to_json_dict()
        description = await handle.describe()
        memo = await description.memo()

    assert state.step == ReviewStep.COMPLETED and state.head_sha == head
    # The title went all the way through, masked: the checks below look where it is.
    assert queried.title is not None and queried.title.startswith("Rotate ghp_")
    assert MASK in queried.title and MASK in memo["title"]
    prompts = [json.dumps(request.body) for request in fake.requests]
    assert prompts and all("Old deploy key" in prompt for prompt in prompts)

    places = {
        "history": "\n".join([json.dumps(history), *decoded_payloads(history)]),
        "memo": json.dumps(memo),
        "search attributes": str(description.typed_search_attributes),
        "get_state": queried.model_dump_json(),
        "logs": "\n".join(
            [caplog.text, *(json.dumps(vars(r), default=str) for r in caplog.records)]
        ),
        "prompts": "\n".join(prompts),
    }
    assert {place: leaked(text) for place, text in places.items()} == {
        place: [] for place in places
    }
