"""Reading Authentication-Results (RFC 8601), and ``require_authenticated_sender``.

The headers below have the exact shape the named servers write (comments,
folding, quoting, property order), with the domains changed to ``.example``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from refmail.config import Config, config_from_dict, load_config
from refmail.errors import ConfigError
from refmail.mail.authresults import authenticated, parse_header
from refmail.mail.message import parse_message
from refmail.reading.classifier import classify_parsed

MAIL = Path(__file__).parent / "data" / "mail"

# -- real-world shapes -----------------------------------------------------------------------
GMAIL_PASS = """mx.google.com;
       dkim=pass header.i=@beckerroofing.example header.s=20230601 header.b=KQ3m/xZ+;
       arc=none;
       spf=pass (google.com: domain of tom@beckerroofing.example designates 209.85.220.41 as permitted sender) smtp.mailfrom=tom@beckerroofing.example;
       dmarc=pass (p=QUARANTINE sp=QUARANTINE dis=NONE) header.from=beckerroofing.example"""  # noqa: E501

# Google Workspace without a custom DKIM key: signed by the gappssmtp domain, SPF soft-fails.
GMAIL_DMARC_FAIL = """mx.google.com;
       dkim=pass header.i=@pex-example.20150623.gappssmtp.com header.s=20150623 header.b=zwziYVWi;
       spf=softfail (google.com: domain of transitioning stepan@pex.example does not designate 209.85.220.65 as permitted sender) smtp.mailfrom=stepan@pex.example;
       dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=pex.example"""  # noqa: E501

# Through a bounce-address rewriter: the quoted mailfrom contains '='.
GMAIL_QUOTED_MAILFROM = """mx.google.com;
       dkim=pass header.i=@fb.example header.s=facebook header.b=N5uvdv1C;
       spf=pass (google.com: domain of prvs=1078cbd532=song@fb.example designates 67.231.145.42 as permitted sender) smtp.mailfrom="prvs=1078cbd532=song@fb.example";
       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=fb.example"""  # noqa: E501

# Mail from an outlook.com account, as Gmail records it.
GMAIL_FROM_OUTLOOK = """mx.google.com;
       dkim=pass header.i=@outlook.example header.s=selector1 header.b=Jf2k8a1x;
       arc=pass (i=1);
       spf=pass (google.com: domain of sam@outlook.example designates 2a01:111:f403:2c14::801 as permitted sender) smtp.mailfrom=sam@outlook.example;
       dmarc=pass (p=NONE sp=QUARANTINE dis=NONE) header.from=outlook.example"""  # noqa: E501

# Microsoft 365 / Outlook.com receiving: no authserv-id at all.
OUTLOOK_365 = """spf=pass (sender IP is 209.85.128.50)
 smtp.mailfrom=beckerroofing.example; dkim=pass (signature was verified)
 header.d=beckerroofing.example;dmarc=pass action=none
 header.from=beckerroofing.example;compauth=pass reason=100"""

FASTMAIL = """mx6.messagingengine.com;
    dkim=pass (2048-bit rsa key sha256) header.d=beckerroofing.example
      header.i=@beckerroofing.example header.b=Vq8zWm0p header.a=rsa-sha256
      header.s=fm2 x-bits=2048;
    dmarc=pass policy.published-domain-policy=none
      policy.applied-disposition=none policy.evaluated-disposition=none
      (p=none,d=none,d.eval=none) policy.policy-from=p
      header.from=beckerroofing.example;
    iprev=pass smtp.remote-ip=66.111.4.28 (out4-smtp.messagingengine.com);
    spf=pass smtp.mailfrom=tom@beckerroofing.example
      smtp.helo=out4-smtp.messagingengine.com;
    x-aligned-from=pass (Address match);
    x-me-sender=none;
    x-ptr=pass smtp.helo=out4-smtp.messagingengine.com
      policy.ptr=out4-smtp.messagingengine.com"""

# Postfix with the OpenDKIM, OpenDMARC and policyd-spf milters: one header each,
# the last milter's on top.
POSTFIX = [
    "mail.harbornet.example; dmarc=pass (p=none dis=none) header.from=beckerroofing.example",
    "mail.harbornet.example;\n\tdkim=pass (2048-bit key; unprotected) header.d=beckerroofing.example "
    "header.i=@beckerroofing.example header.a=rsa-sha256 header.s=mail header.b=Lk3Jd9Qx;\n"
    "\tdkim-atps=neutral",
    "mail.harbornet.example; spf=pass smtp.mailfrom=beckerroofing.example",
]
# The same servers for a domain without DMARC record, signing with a parent domain's key.
POSTFIX_NO_DMARC = [
    "mail.harbornet.example; dmarc=none (p=none dis=none) header.from=mail.smallshop.example",
    "mail.harbornet.example;\n\tdkim=pass (1024-bit key; secure) header.d=smallshop.example "
    "header.i=@smallshop.example header.b=Zz0+Yy1/",
    "mail.harbornet.example; spf=none smtp.mailfrom=mail.smallshop.example",
]


@pytest.mark.parametrize(
    ("headers", "server", "domain", "why"),
    [
        ([GMAIL_PASS], "mx.google.com", "beckerroofing.example", "dmarc=pass"),
        ([GMAIL_QUOTED_MAILFROM], "mx.google.com", "fb.example", "dmarc=pass"),
        ([GMAIL_FROM_OUTLOOK], "mx.google.com", "outlook.example", "dmarc=pass"),
        ([FASTMAIL], "mx6.messagingengine.com", "beckerroofing.example", "dmarc=pass"),
        (POSTFIX, "mail.harbornet.example", "beckerroofing.example", "dmarc=pass"),
        (POSTFIX_NO_DMARC, "mail.harbornet.example", "mail.smallshop.example",
         "dkim=pass by smallshop.example"),
        # authserv-id, domains and keywords compare without regard to case.
        ([GMAIL_PASS.upper()], "MX.Google.COM", "BeckerRoofing.example", "dmarc=pass"),
    ],
)
def test_real_servers_passes(headers: list[str], server: str, domain: str, why: str) -> None:
    ok, reason = authenticated(headers, server, domain)
    assert ok, reason
    assert why in reason.lower()


def test_gmail_dmarc_fail_is_decisive_even_with_a_dkim_pass() -> None:
    ok, reason = authenticated([GMAIL_DMARC_FAIL], "mx.google.com", "pex.example")
    assert not ok
    assert reason == "dmarc=fail for pex.example"


def test_a_pass_for_another_from_domain_does_not_count() -> None:
    ok, reason = authenticated([GMAIL_PASS], "mx.google.com", "chencpa.example")
    assert not ok
    assert "no aligned pass for chencpa.example" in reason


def test_microsoft_365_headers_have_no_authserv_id_and_are_not_trusted() -> None:
    assert parse_header(OUTLOOK_365).authserv_id is None
    assert [r.method for r in parse_header(OUTLOOK_365).results] == ["spf", "dkim", "dmarc", "compauth"]
    ok, reason = authenticated([OUTLOOK_365], "protection.outlook.com", "beckerroofing.example")
    assert not ok
    assert "1 from other servers ignored" in reason


# -- the policy, case by case -----------------------------------------------------------------
ID = "mx.harbornet.example"


def verdict(*results: str, domain: str = "beckerroofing.example") -> tuple[bool, str]:
    return authenticated([f"{ID}; {r}" for r in results], ID, domain)


@pytest.mark.parametrize(
    ("result", "ok"),
    [
        ("dkim=pass header.d=beckerroofing.example", True),
        ("dkim=pass header.i=@beckerroofing.example", True),  # Gmail writes only header.i
        ("dkim=pass header.d=roofing.example", False),  # another domain
        ("dkim=pass header.d=evilbeckerroofing.example", False),  # suffix, not a parent
        ("dkim=pass header.d=mail.beckerroofing.example", False),  # subdomain for its parent
        ("dkim=pass header.d=example", False),  # a bare top-level domain vouches for nobody
        ("dkim=fail header.d=beckerroofing.example", False),
        ("dkim=neutral (bad format) header.d=beckerroofing.example", False),
        ("spf=pass smtp.mailfrom=tom@beckerroofing.example", True),
        ("spf=pass smtp.mailfrom=bounces.mailer.example", False),  # a newsletter service
        ("spf=softfail smtp.mailfrom=beckerroofing.example", False),
        ("spf=pass smtp.helo=beckerroofing.example", False),  # HELO is not the From
        ("dmarc=pass header.from=beckerroofing.example", True),
        ('dmarc=pass header.from="beckerroofing.example"', True),  # a quoted value
        ("dmarc=pass", False),  # which From did it judge?
        ("dmarc = pass (comment; with a semicolon) header.from = beckerroofing.example", True),
        ("DKIM/1=PASS header.D=BeckerRoofing.example", True),  # method version, upper case
    ],
)
def test_alignment_policy(result: str, ok: bool) -> None:
    assert verdict(result)[0] is ok, verdict(result)[1]


def test_parent_domain_vouches_for_its_subdomain() -> None:
    assert verdict("dkim=pass header.d=beckerroofing.example", domain="mail.beckerroofing.example")[0]
    assert verdict("spf=pass smtp.mailfrom=x@beckerroofing.example", domain="mail.beckerroofing.example")[0]


def test_dmarc_fail_beats_aligned_dkim_and_spf() -> None:
    ok, reason = verdict(
        "dkim=pass header.d=beckerroofing.example",
        "spf=pass smtp.mailfrom=beckerroofing.example",
        "dmarc=fail header.from=beckerroofing.example",
    )
    assert (ok, reason) == (False, "dmarc=fail for beckerroofing.example")
    assert not verdict("dkim=pass header.d=beckerroofing.example", "dmarc=fail")[0]


def test_dmarc_none_falls_back_to_dkim_and_spf() -> None:
    none = "dmarc=none header.from=beckerroofing.example"
    assert verdict(none, "spf=pass smtp.mailfrom=beckerroofing.example")[0]
    ok, reason = verdict(none, "spf=fail smtp.mailfrom=x.example")
    assert not ok
    assert reason == "no aligned pass for beckerroofing.example (dmarc=none; spf=fail)"


def test_one_aligned_signature_among_several_is_enough() -> None:
    header = (
        f"{ID}; dkim=pass header.d=esp.example header.s=s1; "
        "dkim=fail (body hash did not verify) header.d=beckerroofing.example; "
        "dkim=pass header.d=beckerroofing.example header.s=s2"
    )
    assert authenticated([header], ID, "beckerroofing.example")[0]


def test_no_result_header_and_version() -> None:
    assert parse_header(f"{ID} 1; none").results == ()
    ok, reason = authenticated([f"{ID} 1; none"], ID, "beckerroofing.example")
    assert not ok
    assert "no dmarc, dkim or spf result" in reason
    # A version refmail does not know must be ignored (RFC 8601 §2.2).
    future = f"{ID} 2; dmarc=pass header.from=beckerroofing.example"
    assert not authenticated([future], ID, "beckerroofing.example")[0]
    assert authenticated([future.replace(" 2;", " 1;")], ID, "beckerroofing.example")[0]


def test_quoted_authserv_id_and_nested_comments() -> None:
    header = (
        '"mx.harbornet.example" (our (inner) \\) server); '
        'dkim=pass (a "quoted; thing" (nested; comment)) reason="ok; fine" header.d=beckerroofing.example'
    )
    parsed = parse_header(header)
    assert parsed.authserv_id == ID
    assert parsed.results[0].properties == {"header.d": "beckerroofing.example"}
    assert authenticated([header], ID, "beckerroofing.example")[0]


@pytest.mark.parametrize(
    "garbage",
    ["", ";;;", "(((", '"unterminated', "=pass", "mx; =; dkim", "\x00\r\n", "mx.harbornet.example" * 2000],
)
def test_garbage_never_raises_and_never_passes(garbage: str) -> None:
    ok, reason = authenticated([garbage], ID, "beckerroofing.example")
    assert not ok and reason


# -- forgeries --------------------------------------------------------------------------------
def test_headers_from_other_servers_are_ignored() -> None:
    forged = (
        "mx.evil.example; dmarc=pass header.from=beckerroofing.example; "
        "dkim=pass header.d=beckerroofing.example"
    )
    ok, reason = authenticated([forged], ID, "beckerroofing.example")
    assert not ok
    assert reason == f"no Authentication-Results from {ID} (1 from other servers ignored)"
    # Nor does an id that merely contains ours, or ours as a comment.
    for lookalike in (f"{ID}.evil.example", f"evil-{ID}", f"(  {ID} ) x.example", f"x.example ({ID})"):
        assert not authenticated([f"{lookalike}; dmarc=pass header.from=beckerroofing.example"], ID,
                                 "beckerroofing.example")[0], lookalike


def test_a_forged_header_with_our_id_below_ours_cannot_override_it() -> None:
    # Our server (top) found nothing good; the sender wrote a header claiming our id.
    ours = f"{ID}; dkim=none (no signatures found); spf=softfail smtp.mailfrom=evil.example; dmarc=fail header.from=beckerroofing.example"  # noqa: E501
    forged = f"{ID}; dkim=pass header.d=beckerroofing.example; spf=pass smtp.mailfrom=beckerroofing.example; dmarc=pass header.from=beckerroofing.example"  # noqa: E501
    assert not authenticated([ours, forged], ID, "beckerroofing.example")[0]
    # Per method: the top header's dkim=none stands even when our server reports no DMARC.
    ours_no_dmarc = f"{ID}; dkim=none (no signatures found); spf=softfail smtp.mailfrom=evil.example"
    forged_dkim = f"{ID}; dkim=pass header.d=beckerroofing.example; spf=pass smtp.mailfrom=beckerroofing.example"  # noqa: E501
    ok, reason = authenticated([ours_no_dmarc, forged_dkim], ID, "beckerroofing.example")
    assert not ok, reason
    # Whereas the same two in the other order (ours reporting the pass) do pass.
    assert authenticated([forged_dkim, ours_no_dmarc], ID, "beckerroofing.example")[0]


def test_no_authserv_id_configured_trusts_nothing() -> None:
    assert not authenticated([GMAIL_PASS], "", "beckerroofing.example")[0]


# -- config --------------------------------------------------------------------------------------
GROUP = {"name": "G", "tracking_address": "refs@harbornet.example"}


def test_require_authenticated_sender_needs_an_authserv_id() -> None:
    with pytest.raises(ConfigError, match=r"security: require_authenticated_sender = true needs authserv_id"):
        config_from_dict({"group": GROUP, "security": {"require_authenticated_sender": True}})
    with pytest.raises(ConfigError, match=r"security\.authserv_id: 'mx; x' is not an authserv-id"):
        config_from_dict({"group": GROUP, "security": {"authserv_id": "mx; x"}})
    config = config_from_dict({"group": GROUP})
    assert (config.security.require_authenticated_sender, config.security.authserv_id) == (False, "")


# -- the classifier hook ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def strict() -> Config:
    base = load_config(MAIL / "group.toml")
    data = base.model_dump(exclude={"source"})
    data["security"] = {"require_authenticated_sender": True, "authserv_id": "mx.harbornet.example"}
    return config_from_dict(data)


def with_results(path: str, *results: str) -> bytes:
    raw = (MAIL / path).read_bytes()
    head = b"".join(f"Authentication-Results: {r}\r\n".encode() for r in results)
    return head + raw


NADIA_DMARC = "mx.harbornet.example; dkim=pass header.d=floresmarketing.example; dmarc=pass header.from=floresmarketing.example"  # noqa: E501


def test_authenticated_intro_is_tracked(strict: Config) -> None:
    result = classify_parsed(parse_message(with_results("intro-cc.eml", NADIA_DMARC)), strict)
    assert result.kind == "intro"
    assert "sender authenticated (dmarc=pass for floresmarketing.example)" in result.reason


@pytest.mark.parametrize(
    ("results", "why"),
    [
        ((), "no Authentication-Results from mx.harbornet.example"),
        (("mx.evil.example; dmarc=pass header.from=floresmarketing.example",),
         "1 from other servers ignored"),
        (("mx.harbornet.example; spf=pass smtp.mailfrom=evil.example; dmarc=fail header.from=floresmarketing.example",),  # noqa: E501
         "dmarc=fail"),
    ],
)
def test_forged_or_unauthenticated_intro_is_ignored(
    strict: Config, results: tuple[str, ...], why: str
) -> None:
    raw = with_results("intro-cc.eml", *results)
    result = classify_parsed(parse_message(raw), strict)
    assert result.kind == "ignored"
    assert result.reason.startswith("sender not authenticated: ")
    assert why in result.reason
    # The same message without the setting is an intro: the check made the difference.
    relaxed = load_config(MAIL / "group.toml")
    assert classify_parsed(parse_message(raw), relaxed).kind == "intro"


def test_reply_needs_authentication_too(strict: Config) -> None:
    raw = (MAIL / "reply-all-thread.eml").read_bytes()
    plain = classify_parsed(parse_message(raw), strict)
    assert plain.kind == "ignored" and plain.reason.startswith("sender not authenticated")
    sender = parse_message(raw).from_
    assert sender is not None
    domain = sender.address.rpartition("@")[2]
    ok = classify_parsed(
        parse_message(f"Authentication-Results: {ID}; dmarc=pass header.from={domain}\r\n".encode() + raw),
        strict,
    )
    assert ok.kind == "reply"


def test_two_from_headers_are_refused(strict: Config) -> None:
    # A DMARC checker may judge either From; refmail reads the first. Both must be one.
    raw = with_results("intro-cc.eml", NADIA_DMARC).replace(
        b"\r\nTo: Omar", b"\r\nFrom: Mallory <mallory@evil.example>\r\nTo: Omar", 1
    )
    result = classify_parsed(parse_message(raw), strict)
    assert (result.kind, result.reason) == ("ignored", "sender not authenticated: 2 From headers")


def test_bounces_and_ignored_mail_are_not_affected(strict: Config) -> None:
    for name, kind in (("dsn-bounce.eml", "bounce"), ("list-newsletter.eml", "ignored")):
        result = classify_parsed(parse_message((MAIL / name).read_bytes()), strict)
        assert result.kind == kind
        assert "not authenticated" not in result.reason


def test_a_forward_by_a_non_member_cannot_vouch_for_the_intro_inside(strict: Config) -> None:
    raw = (MAIL / "fwd-gmail-inline.eml").read_bytes()
    msg = parse_message(raw)
    assert msg.from_ is not None and msg.forwarded is not None
    # As the member forwarding it (the fixture): tracked when authenticated.
    domain = msg.from_.address.rpartition("@")[2]
    signed = f"Authentication-Results: {ID}; dmarc=pass header.from={domain}\r\n".encode() + raw
    assert classify_parsed(parse_message(signed), strict).kind == "intro"
    # An outsider (authenticated as themselves) forwarding the same text: not tracked.
    outsider = signed.replace(msg.from_.address.encode(), b"sam@outsider.example", 1).replace(
        f"header.from={domain}".encode(), b"header.from=outsider.example", 1
    )
    result = classify_parsed(parse_message(outsider), strict)
    assert result.kind == "ignored"
    assert "forwarded by non-member sam@outsider.example" in result.reason
