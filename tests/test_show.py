"""``refmail show`` and ``refmail referrals`` through the CLI, on a database the real daemon built.

The group's mail goes through the real Dovecot and SMTP servers and the daemon
runs on a simulated clock (``test_lifecycle.World``); the commands then read
the database as an admin would, in the group's time zone (America/Chicago).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from mailservers import MailEnv
from test_lifecycle import LINDA, MEI, START, TOM, World, send_intro

from refmail.cli import cli

pytestmark = pytest.mark.servers


@pytest.fixture
def world(mail_env: MailEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = World(mail_env, tmp_path)
    # The commands read the world's simulated clock, as the daemon does.
    monkeypatch.setattr("refmail.cli.commands._now", w.clock)
    monkeypatch.setenv("COLUMNS", "250")  # Rich tables unwrapped
    try:
        yield w
    finally:
        w.store.close()


def refmail(world: World, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(world.config.source), *args])


def test_show_tells_the_whole_story_in_the_groups_time_zone(world: World) -> None:
    send_intro(world)
    world.cycle()
    world.clock.advance(days=1, minutes=5)
    world.cycle()
    (thank_you,) = world.received(TOM)
    world.reply(thank_you, TOM, "WON $4,500 - Linda signed for the full roof.")
    world.clock.advance(minutes=10)
    world.cycle()

    result = refmail(world, "show", "R-1")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("R-1 · won")
    assert f"referrer  Mei Chen <{MEI}>" in out
    assert f"provider  Tom Becker <{TOM}>, member" in out and LINDA in out
    # 10:00 in Chicago, not 16:00 UTC.
    assert "23 Nov 10:00  introduced by Mei Chen" in out
    assert "status introduced → won (4,500 USD) by Tom Becker" in out or \
        "status introduced → won (4,500) by Tom Becker" in out
    assert f"ack to {MEI}" in out and f"thank_you to {TOM}" in out
    assert "sent" in out

    data = json.loads(refmail(world, "show", "r1", "--json").output)
    assert data["tag"] == "R-1" and data["status"] == "won"
    assert data["events"][0]["at"].startswith("2026-11-23T10:00:00-06:00")
    assert {m["step"] for m in data["mail"] if m["state"] == "sent"} >= {"ack", "thank_you"}
    assert {(p["address"], p["role"]) for p in data["parties"]} == {
        (MEI, "referrer"), (TOM, "provider"), (LINDA, "prospect")}


def test_show_says_what_is_queued_held_and_failed_and_why(world: World) -> None:
    # An intro at 22:00: the acknowledgement waits for the end of quiet hours.
    world.clock.now = START.replace(hour=22)
    send_intro(world)
    world.cycle()
    out = refmail(world, "show", "R-1").output
    assert "queued" in out and "quiet hours: leaves at Tue 24 Nov 07:00" in out

    # Mail Tom's server refuses for good: failed, with the server's words.
    world.env.smtp.refuse(550, recipients=[TOM], text="5.1.1 mailbox unavailable")
    world.clock.now = START.replace(hour=8) + timedelta(days=2)
    world.cycle()
    out = refmail(world, "show", "R-1").output
    assert "failed" in out and "5.1.1 mailbox unavailable" in out
    assert "bounced on" in out or "! " in out  # Tom gets no more mail, and the story says so


def test_show_lists_mail_held_back_by_the_weekly_cap(world: World) -> None:
    for n in range(6):
        send_intro(world, to=f"client{n}@town.example", name=f"Client{n} Town", n=n)
    world.cycle()
    world.clock.advance(days=1, minutes=5)
    world.cycle()
    held = []
    for referral_id in range(1, 7):
        data = json.loads(refmail(world, "show", f"R-{referral_id}", "--json").output)
        held += [m for m in data["mail"] if m["state"] == "held"]
    assert len(held) == 6 - world.config.nudges.max_per_week
    assert all(m["step"] == "thank_you" and m["recipient"] == TOM for m in held)
    assert all("weekly cap" in m["why"] and "max_per_week = 4" in m["why"] for m in held)


def test_show_refuses_what_is_not_a_referral(world: World) -> None:
    send_intro(world)
    world.cycle()
    missing = refmail(world, "show", "R-99")
    assert missing.exit_code == 1 and "there is no R-99 (1 referrals tracked" in missing.output
    wrong = refmail(world, "show", "Tom")
    assert wrong.exit_code == 2 and "not a referral" in wrong.output


def test_referrals_takes_the_emails_words_and_the_groups_time_zone(world: World) -> None:
    send_intro(world)
    send_intro(world, to="ben@town.example", name="Ben Town", n=2)
    world.cycle()
    world.clock.advance(days=8)
    world.cycle()
    feedback = [m for m in world.received(TOM) if str(m["Subject"]).startswith("[R-1]")][-1]
    world.reply(feedback, TOM, "NO FIT - Linda needs a flat roof, I do pitched ones.")
    world.clock.advance(minutes=10)
    world.cycle()

    result = refmail(world, "referrals", "--status", "no fit")
    assert result.exit_code == 0, result.output
    assert "R-1" in result.output and "R-2" not in result.output
    assert "no fit" in result.output
    assert "Introduced (America/Chicago)" in result.output and "2026-11-23 10:00" in result.output

    assert "R-2" in refmail(world, "referrals", "--status", "open").output
    none = refmail(world, "referrals", "--status", "won")
    assert none.exit_code == 0 and "No referral is won (2 tracked in all)." in none.output
    typo = refmail(world, "referrals", "--status", "wonn")
    assert typo.exit_code == 2 and "'wonn' is not a status" in typo.output

    rows = json.loads(refmail(world, "referrals", "--json", "--status", "NO FIT").output)
    assert [r["tag"] for r in rows] == ["R-1"]
    assert json.loads(refmail(world, "referrals", "--json", "--status", "won").output) == []
