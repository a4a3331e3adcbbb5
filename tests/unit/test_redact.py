# --- Unit tests: secrets masked in prompts and comments, real code left alone ---
from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prsaga.review.redact import MASK, redact
from tests.paths import TESTS_DIR

FIXTURES = TESTS_DIR / "fixtures" / "diffs"

# Fake secrets in real formats, assembled at run time so that no secret scanner (nor GitHub's
# push protection) flags this repository. None of them is or was ever valid.
ALNUM = "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5cD7eF9gH1"
GITHUB_CLASSIC = "ghp" + "_" + ALNUM[:36]
GITHUB_OAUTH = "gho" + "_" + ALNUM[1:37]
GITHUB_FINE = "github" + "_pat_" + "11ABCDEFG0" + ALNUM[:40]
AWS_KEY_ID = "AKIA" + "Z7Q2M8P4L6R1T9W3"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "9Q2m8pL4vR"
ANTHROPIC = "sk-ant-" + "api03-" + ALNUM[:40] + "-Xy7Q2mAA"
OPENAI = "sk-" + "proj-" + ALNUM[:40]
SLACK = "xoxb" + "-1234567890-1234567890123-" + ALNUM[:24]
STRIPE = "sk" + "_live_" + ALNUM[:24]
GOOGLE = "AIza" + "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"
GITLAB = "glpat" + "-" + ALNUM[:20]
NPM = "npm" + "_" + ALNUM[:36]
JWT = "eyJhbGciOiJIUzI1NiJ9" + "." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0" + "." + ALNUM[:43]


@pytest.mark.parametrize(
    ("line", "secret", "shown"),
    [
        (f'GITHUB_TOKEN = "{GITHUB_CLASSIC}"', GITHUB_CLASSIC, "ghp_aB****"),
        (f"token: {GITHUB_OAUTH}", GITHUB_OAUTH, "gho_B3****"),
        (f"export GH={GITHUB_FINE}", GITHUB_FINE, "github_pat_11****"),
        (f"aws_access_key_id = {AWS_KEY_ID}", AWS_KEY_ID, "AKIAZ7****"),
        (f'aws_secret_access_key = "{AWS_SECRET}"', AWS_SECRET, "wJ****"),
        (f"ANTHROPIC_API_KEY={ANTHROPIC}", ANTHROPIC, "sk-ant-ap****"),
        (f'client = OpenAI(api_key="{OPENAI}")', OPENAI, "sk-pr****"),
        (f'SLACK = "{SLACK}"', SLACK, "xoxb-12****"),
        (f'stripe.api_key = "{STRIPE}"', STRIPE, "sk_live_aB****"),
        (f'"apiKey": "{GOOGLE}",', GOOGLE, "AIzaSy****"),
        (f"CI_TOKEN={GITLAB}", GITLAB, "glpat-aB****"),
        (f"//registry.npmjs.org/:_authToken={NPM}", NPM, "npm_aB****"),
        (f'headers = {{"Authorization": "Bearer {JWT}"}}', JWT, "eyJhb****"),
        ("DB_PASSWORD=s3cr3tPassw0rd", "s3cr3tPassw0rd", "DB_PASSWORD=****"),
        ('    password = "correct-horse-battery-9"', "correct-horse-battery-9", '"co****"'),
        ("  password: hunter2hunter2", "hunter2hunter2", "password: ****"),
        ('url = "https://admin:Sup3rS3cret@db.example.com/app"', "Sup3rS3cret", "admin:****@"),
    ],
)
def test_secrets_are_masked_keeping_a_short_prefix(line, secret, shown):
    masked = redact(line)
    assert secret not in masked
    assert shown in masked
    assert redact(masked) == masked  # masking twice changes nothing


def test_a_private_key_body_is_masked_line_by_line_in_a_diff():
    body = [
        "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgwMVP1u5Kq3i4o",
        "vTl9MKSxLH4uZxmXk8y3ZbQ2F/DJd2Zk9TeExp5T1p9KZ0L6yPQZ7QsYb1oFk2Gh",
        "Zq8A3o/f2mdzXbF1QGq3vM5jY6=",
    ]
    diff = "\n".join(
        [
            "@@ -0,0 +1,5 @@",
            "+-----BEGIN RSA " + "PRIVATE KEY-----",
            *(f"+{line}" for line in body),
            "+-----END RSA " + "PRIVATE KEY-----",
            " unchanged = 1",
        ]
    )
    masked = redact(diff).split("\n")
    assert masked == [
        "@@ -0,0 +1,5 @@",
        "+-----BEGIN RSA PRIVATE KEY-----",
        "+****",
        "+****",
        "+****",
        "+-----END RSA PRIVATE KEY-----",
        " unchanged = 1",
    ]


def test_a_key_cut_short_by_its_hunk_masks_nothing_after_it():
    diff = "\n".join(
        [
            "+-----BEGIN OPENSSH " + "PRIVATE KEY-----",
            "+b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
            " def configure_connection_pool(settings):",
            "+    connection_timeout_seconds = 30",
        ]
    )
    assert redact(diff).split("\n") == [
        "+-----BEGIN OPENSSH PRIVATE KEY-----",
        "+****",
        " def configure_connection_pool(settings):",
        "+    connection_timeout_seconds = 30",
    ]


def test_a_key_written_as_strings_in_code_is_masked():
    one_line = (
        '{"key": "-----BEGIN ' + "PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n"
        'BKcwggSjAgEAAoIBAQC7\\n-----END PRIVATE KEY-----\\n", "name": "connection_settings"}'
    )
    masked = redact(one_line)
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in masked and "BKcwggSj" not in masked
    assert masked.endswith('-----END PRIVATE KEY-----\\n", "name": "connection_settings"}')
    concatenated = "\n".join(
        [
            "KEY = (",
            '    "-----BEGIN EC ' + 'PRIVATE KEY-----\\n"',
            '    "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oMRq3b8AbCdEoAoGCCqGSM49\\n"',
            '    "-----END EC PRIVATE KEY-----\\n"',
            ")",
        ]
    )
    assert redact(concatenated).split("\n")[2] == '    "****\\n"'


def test_a_value_found_once_is_masked_everywhere():
    text = f'TOKEN = "{GITHUB_CLASSIC}"\n# example: {GITHUB_CLASSIC[4:]}\nuse({GITHUB_CLASSIC})'
    masked = redact(text)
    assert GITHUB_CLASSIC not in masked
    assert masked.count(MASK) == 2  # the bare suffix is not a token on its own
    stripe_twice = f'a = "{STRIPE}"\nb = {STRIPE}'
    assert STRIPE not in redact(stripe_twice)


@pytest.mark.parametrize(
    "line",
    [
        "password = get_password(user)",
        "secret_key = settings.SECRET_KEY",
        "api_key: ${{ secrets.API_KEY }}",
        "password: str | None = None,",
        "    :param password: The password part of the URL.",
        'SECRET_KEY = os.environ["SECRET_KEY"]',
        "key_file = cert[1]",
        "see https://github.com/psf/requests/pull/6767",
        'user_id = "5f0c8a2e-3b7d-4e1f-9a6c-2d8b7e4f1a30"',
        "MAX_TOKENS = 4096",
    ],
)
def test_ordinary_code_is_left_alone(line):
    assert redact(line) == line


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.diff")), ids=lambda p: p.name)
def test_real_diffs_are_unchanged(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    assert redact(text) == text


def test_a_large_diff_is_masked_quickly():
    lines = "".join(
        p.read_text(encoding="utf-8", errors="replace") for p in sorted(FIXTURES.glob("*.diff"))
    ).split("\n")
    lines = (lines * (100_000 // len(lines) + 1))[:100_000]
    lines[500] = f'+GITHUB_TOKEN = "{GITHUB_CLASSIC}"'
    lines[99_000] = f"+aws_access_key_id = {AWS_KEY_ID}"
    text = "\n".join(lines)
    started = time.perf_counter()
    masked = redact(text)
    elapsed = time.perf_counter() - started
    assert GITHUB_CLASSIC not in masked and AWS_KEY_ID not in masked
    assert masked.count("\n") == text.count("\n")
    assert elapsed < 5, f"redacting 100k lines took {elapsed:.1f} s"


SECRETS = [GITHUB_CLASSIC, AWS_KEY_ID, ANTHROPIC, SLACK, STRIPE, JWT, "hunter2hunter2"]


@settings(max_examples=150, deadline=None)
@given(
    parts=st.lists(
        st.one_of(
            st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
            st.sampled_from(SECRETS),
            st.sampled_from(['password = "', "token: ", "\n", '"', "=", " "]),
        ),
        max_size=12,
    )
)
def test_masking_keeps_lines_and_is_idempotent(parts):
    text = "".join(parts)
    masked = redact(text)
    assert masked.count("\n") == text.count("\n")
    assert redact(masked) == masked
    for secret in SECRETS[:-1]:  # token formats are masked wherever they are not inside a word
        if secret in text and not any(
            text[max(0, i - 1) : i].isalnum() or text.endswith(MASK, 0, i)
            for i in _occurrences(text, secret)
        ):
            assert secret not in masked


def _occurrences(text: str, value: str) -> list[int]:
    found, start = [], text.find(value)
    while start != -1:
        found.append(start)
        start = text.find(value, start + 1)
    return found
