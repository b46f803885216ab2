"""Config loading: lookup order, durations, and one clear error per mistake."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from refmail.config import config_from_dict, find_config_path, format_duration, load_config, parse_duration
from refmail.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "refmail.example.toml"

MINIMAL = """
[group]
name = "Test Group"
tracking_address = "Refs@Group.example"

[[members]]
name = "Ann"
email = "ann@a.example"
aliases = ["ANN.private@b.example"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "refmail.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_documents_every_key_and_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.group.tracking_address == "refs@harbornet.example"
    assert config.timing.quiet_hours == (time(21, 0), time(7, 0))
    assert config.timing.weekly_summary == (0, time(8, 0))
    assert config.imap.max_message_size == 25 * 1024 * 1024
    text = EXAMPLE.read_text()
    from refmail.config import Config

    # Every field of every section appears in the example file.
    for section, model in Config.model_fields.items():
        if section in {"source", "members", "group"}:
            continue
        for key in model.annotation.model_fields:  # type: ignore[union-attr]
            assert f"\n{key} =" in text, f"[{section}] {key} is not documented"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("2d", 172800), ("1w", 604800), ("1.5d", 129600)],
)
def test_durations(text: str, expected: int) -> None:
    assert parse_duration(text) == timedelta(seconds=expected)


@pytest.mark.parametrize("text", ["7", "2 days", "", "d2", "-1d"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REFMAIL_CONFIG", raising=False)
    assert find_config_path() == Path("config/refmail.toml")
    monkeypatch.setenv("REFMAIL_CONFIG", "/etc/env.toml")
    assert find_config_path() == Path("/etc/env.toml")
    assert find_config_path("explicit.toml") == Path("explicit.toml")


def test_addresses_are_lower_cased_and_aliases_map(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.group.tracking_address == "refs@group.example"
    assert config.canonical("Ann.Private@B.example") == "ann@a.example"
    assert config.is_tracking_address("REFS+abc.123@group.example")
    assert config.plus_tag("refs+abc.123@group.example") == "abc.123"
    assert not config.is_tracking_address("refsx@group.example")
    assert config.database_path() == tmp_path / "refmail.db"


@pytest.mark.parametrize(
    ("patch", "key", "words"),
    [
        ('[timing]\nfeedback_after = "7"', "timing.feedback_after", "not a duration"),
        ('[timing]\nquiet_hours = "9pm-7am"', "timing.quiet_hours", "range of hours"),
        ('[timing]\nweekly_summary = "someday 8:00"', "timing.weekly_summary", "weekday"),
        ('[imap]\nhost = "mail.example"\nsecurity = "none"', "imap", "loopback"),
        ('[imap]\nsecurity = "tls"', "imap.security", "'ssl'"),
        ('[imap]\nprot = 993', "imap.prot", "unknown key"),
        ('[group2]\nname = "x"', "group2", "unknown key"),
    ],
)
def test_bad_values_name_file_key_and_problem(
    tmp_path: Path, patch: str, key: str, words: str
) -> None:
    path = write(tmp_path, MINIMAL + "\n" + patch + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path.resolve()) in message
    assert f"{key}:" in message
    assert words in message


def test_bad_timezone_and_member_email(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"group.timezone: 'Mars/Olympus'"):
        load_config(write(tmp_path, MINIMAL.replace('[[members]]', 'timezone = "Mars/Olympus"\n[[members]]')))
    with pytest.raises(ConfigError, match=r"members\[0\].email: 'ann-at-a' is not an email"):
        load_config(write(tmp_path, MINIMAL.replace("ann@a.example", "ann-at-a")))


def test_address_shared_by_two_members_is_refused() -> None:
    data = {
        "group": {"name": "G", "tracking_address": "refs@g.example"},
        "members": [
            {"name": "A", "email": "a@g.example", "aliases": ["x@g.example"]},
            {"name": "B", "email": "x@g.example"},
        ],
    }
    with pytest.raises(ConfigError, match="can belong to one member only"):
        config_from_dict(data)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[group\nname="))


def test_password_comes_from_the_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(
        write(tmp_path, MINIMAL + '[imap]\nusername = "refs"\npassword_env = "T_IMAP_PW"\n')
    )
    monkeypatch.delenv("T_IMAP_PW", raising=False)
    with pytest.raises(ConfigError, match="T_IMAP_PW"):
        config.imap.password()
    monkeypatch.setenv("T_IMAP_PW", "s3cret-value")
    assert config.imap.password() == "s3cret-value"
    # A password in the file is not a key refmail reads.
    with pytest.raises(ConfigError, match=r"imap\.password: unknown key"):
        load_config(write(tmp_path, MINIMAL + '[imap]\npassword = "oops"\n'))


@pytest.mark.parametrize("text", ["90s", "15m", "36h", "2d", "1w", "0.2s", "0s"])
def test_format_duration_gives_back_what_parse_duration_read(text: str) -> None:
    assert format_duration(parse_duration(text)) == text
