"""Rendering refmail's emails from Jinja2 templates.

The emails are the product: every word lives in a template file in
``refmail/render/templates/``, shipped inside the package (see its README for
the file layout and the context contract), so wording can be reviewed, overridden per
group (``[nudges] template_dir``) or translated without touching Python.

This module only turns (step, context) into a subject, a plain-text body and
an HTML body. It does no I/O besides reading template files; composing the
MIME message is :mod:`refmail.render.composer`'s job.

Safety: the context carries other people's words (display names, feedback
text). HTML templates are autoescaped, and everything is rendered with
``StrictUndefined`` so a typo in a template fails loudly in tests instead of
silently sending "Hi ," to a member.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import jinja2
from markupsafe import Markup, escape

from refmail.config import Config
from refmail.errors import ConfigError
from refmail.policy.rules import MISSES

__all__ = [
    "ANSWERS",
    "BAD_NEWS",
    "CONSENT_STEPS",
    "KEYWORDS",
    "STEPS",
    "SUMMARIES",
    "Rendered",
    "Renderer",
    "builtin_template_dir",
    "format_money",
    "mailto_link",
    "template_name",
]

#: The steps refmail sends mail for; ``render`` accepts these (and the
#: concrete variant names ``feedback_provider`` etc.).
STEPS = (
    "ack",
    "roles_question",
    "thank_you",
    "miss_thanks",
    "relay_thanks",
    "feedback",
    "status_update",
    "stale_reminder",
    "no_news",
    "closed_thanks",
    "send_failed",
)
#: The weekly summaries (SPEC "The flow", step 5): rendered like a step, but
#: about no single referral (see :func:`refmail.summaries.member.summary_context`).
SUMMARIES = ("summary_member", "summary_admin")
#: Notices to the group's admins about refmail itself (a mail-loop brake fired …).
NOTICES = ("admin_notice", "set_aside")
#: Answers to what a person (or someone in their name) did
#: (:mod:`refmail.workflow.notices`): the question that asks them to confirm a
#: request that came without proof, what their confirmation did, the note
#: that confirms a STOP and offers START, what of a reply did not count, and
#: a member's profile as it reads (:mod:`refmail.workflow.profiles`).
ANSWERS = ("confirm", "confirm_result", "stopped", "refused", "profile")
#: Consent-first introductions (SPEC "Consent-first introductions"), rendered like
#: the steps above; templates/README.md lists their context.
CONSENT_STEPS = (
    "proposal_ack",
    "consent_request",
    "consent_reminder",
    "consent_ready",
    "consent_declined",
    "consent_expired",
)
#: Steps whose wording depends on the context, and their variants.
VARIANTS: dict[str, tuple[str, ...]] = {
    "feedback": ("feedback_provider", "feedback_prospect"),
    "status_update": ("status_update_good", "status_update_bad"),
    "consent_request": ("consent_request_provider", "consent_request_prospect"),
}
#: Steps with one more wording for a referral that missed (``lost``,
#: ``no_fit``): thanks relayed after a miss are not thanks for business.
AFTER_A_MISS: dict[str, str] = {"relay_thanks": "relay_thanks_miss"}
#: Outcomes told to the referrer as bad news: kindly, promptly, with a
#: suggestion that they may want to reach out (seeds: failed referrals are
#: a chance to learn, and reputations are at stake).
BAD_NEWS = frozenset({"lost", "no_fit", "unresponsive"})
#: The reply keywords every nudge may offer as one-click links (SPEC "Replies
#: to nudges"); ``PROVIDER`` answers the roles question.
KEYWORDS = ("CONTACTED", "MET", "PROPOSAL", "WON", "LOST", "NO FIT", "NO RESPONSE", "THANKS", "STOP")

_PARTS = ("subject.txt", "txt", "html")
_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


@dataclass(frozen=True)
class Rendered:
    """One email's words: ``subject`` (one line, without the ``[R-12]`` tag),
    ``text`` (plain text) and ``html``."""

    subject: str
    text: str
    html: str


# --------------------------------------------------------------------------- helpers


def mailto_link(reply_address: str, tag: str, keyword: str, body: str | None = None) -> str:
    """A ``mailto:`` URI that answers a nudge with one click.

    ``mailto:refs+TOKEN@group?subject=%5BR-12%5D%20WON&body=WON%20`` — the
    subject carries the referral tag (a fallback when a client drops the plus
    address) and the body starts with the keyword; it defaults to the keyword
    and a space, so a person can add an amount or a note on the same line.

    RFC 6068: ``hfvalue`` characters outside ``unreserved`` are
    percent-encoded as UTF-8 (§2, §5); a space is ``%20``, never ``+`` (which
    some clients would keep literally), line breaks ``%0D%0A``. In the address
    ``@`` and ``+`` stay as they are (``+`` is a ``some-delims`` character).
    """
    if body is None:
        body = f"{keyword} "
    body = body.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    address = quote(reply_address, safe="@+")
    subject = quote(f"[{tag}] {keyword}", safe="")
    return f"mailto:{address}?subject={subject}&body={quote(body, safe='')}"


def format_money(value: int | float | None, currency: str | None = None) -> str:
    """``4500, "USD"`` → ``$4,500``; ``1200.5, "CHF"`` → ``1,200.50 CHF``; None → ``""``.

    A number format, not prose, so it lives here rather than in a template.
    """
    if value is None:
        return ""
    amount = f"{value:,.0f}" if float(value) == int(value) else f"{value:,.2f}"
    if not currency:
        return amount
    symbol = _CURRENCY_SYMBOLS.get(currency.upper())
    return f"{symbol}{amount}" if symbol else f"{amount} {currency.upper()}"


def _names(people: Iterable[Mapping[str, Any]], conjunction: str = "and", key: str = "name") -> str:
    """``[Carl, Dana, Eve]`` → ``Carl, Dana and Eve`` (the conjunction comes
    from the template, so it can be translated)."""
    names = [str(person[key]) for person in people]
    if len(names) <= 1:
        return names[0] if names else ""
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


def _nl2br(text: Any) -> Markup:
    """Escape ``text`` and keep its line breaks as ``<br/>`` (relayed notes)."""
    lines = str(text).replace("\r\n", "\n").splitlines()
    return Markup("<br/>\n").join(escape(line) for line in lines)


def _quote_text(text: Any, prefix: str = "  > ") -> str:
    """Indent a relayed note in the plain-text part, line by line."""
    lines = str(text).replace("\r\n", "\n").strip().splitlines() or [""]
    return "\n".join(f"{prefix}{line}".rstrip() for line in lines)


def _with_address(person: Mapping[str, Any]) -> str:
    """``Carl Jones <carl@example.com>``, or the address alone when the name
    is only the address (the planner's fallback)."""
    name, email = str(person["name"]), str(person["email"])
    return email if name.strip().lower() == email.lower() else f"{name} <{email}>"


def _same(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Are two people of the context the same address?"""
    if not a or not b:
        return False
    return str(a.get("email", "")).lower() == str(b.get("email", "")).lower()


def template_name(step: str, context: Mapping[str, Any]) -> str:
    """The concrete template set for ``step`` in this ``context``.

    ``feedback`` is gentler to a prospect than to the provider;
    ``status_update`` has good-news and bad-news wording.
    """
    if step == "feedback":
        is_provider = _same(context.get("recipient"), context.get("provider"))
        return "feedback_provider" if is_provider else "feedback_prospect"
    if step == "status_update":
        return "status_update_bad" if _status(context) in BAD_NEWS else "status_update_good"
    if step in AFTER_A_MISS and (context.get("referral") or {}).get("status") in MISSES:
        return AFTER_A_MISS[step]
    if step == "consent_request":  # the provider is also asked "is this work you take on?"
        is_provider = _same(context.get("recipient"), context.get("provider"))
        return "consent_request_provider" if is_provider else "consent_request_prospect"
    return step


def _status(context: Mapping[str, Any]) -> str | None:
    event = context.get("event") or {}
    referral = context.get("referral") or {}
    return event.get("status") or referral.get("status")


def builtin_template_dir() -> Path:
    """The packaged templates (``refmail/render/templates``), read through
    :mod:`importlib.resources` so a wheel, an editable install and a checkout
    find them alike."""
    return Path(str(resources.files("refmail.render") / "templates"))


class _ProseLoader(jinja2.BaseLoader):
    """Serves ``_phrases.html`` from the source of ``_phrases.txt``.

    Shared prose macros must be compiled once per output format: Jinja marks
    a macro's result safe when the *caller* autoescapes, so a macro compiled
    without escaping (a ``.txt`` template) would put raw names into HTML.
    Loading the same source under an ``.html`` name compiles it with
    autoescape on, so one file of wording serves both parts safely, and an
    override of ``_phrases.txt`` changes both.
    """

    ALIASES: ClassVar[dict[str, str]] = {
        "_phrases.html": "_phrases.txt",
        "_summary_phrases.html": "_summary_phrases.txt",
        "_confirm_phrases.html": "_confirm_phrases.txt",
        "_profile_phrases.html": "_profile_phrases.txt",
    }

    def __init__(self, inner: jinja2.BaseLoader):
        self.inner = inner

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        return self.inner.get_source(environment, self.ALIASES.get(template, template))

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()


def _builtin_loader() -> jinja2.BaseLoader:
    directory = builtin_template_dir()
    if not (directory / "_base.html").is_file():
        raise RuntimeError(f"refmail's email templates are missing from {directory}; reinstall refmail")
    return jinja2.FileSystemLoader(directory)


# --------------------------------------------------------------------------- renderer


class Renderer:
    """Renders a step's subject, text and HTML from the template files.

    ``directory`` overrides built-in templates file by file (a group may
    reword one email and keep the rest); when None, the config's ``[nudges]
    template_dir`` is used, if set.
    """

    def __init__(self, config: Config, directory: Path | None = None):
        self.config = config
        if directory is None:
            directory = config.nudges.template_path(config.source)
        self.directory = directory
        loaders: list[jinja2.BaseLoader] = []
        if directory is not None:
            if not directory.is_dir():
                raise ConfigError(
                    f"{directory} is not a directory of templates", key="nudges.template_dir"
                )
            loaders.append(jinja2.FileSystemLoader(directory))
        loaders.append(_builtin_loader())
        self.env = jinja2.Environment(
            loader=_ProseLoader(jinja2.ChoiceLoader(loaders)),
            # Only HTML is escaped; the text part and subject must show
            # "Bob & Sons" as written.
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html",), default_for_string=False, default=False
            ),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.filters["names"] = _names
        self.env.filters["money"] = format_money
        self.env.filters["nl2br"] = _nl2br
        self.env.filters["quote_text"] = _quote_text
        self.env.filters["with_address"] = _with_address
        self.env.tests["same_person"] = _same

    def render(self, step: str, context: Mapping[str, Any]) -> Rendered:
        """Render ``step`` (one of :data:`STEPS` or a variant name).

        ``context`` follows the contract in ``render/templates/README.md``; missing
        optional keys (``provider``, ``event``, ``reminder`` …) default to
        None or empty. ``mailto``, ``bad_news`` and ``is_provider`` are added
        here. Raises ValueError for an unknown step and ConfigError when an
        override template is broken.
        """
        name = template_name(step, context)
        known = set(STEPS) | set(SUMMARIES) | set(CONSENT_STEPS) | set(NOTICES) | set(ANSWERS)
        known |= {v for variants in VARIANTS.values() for v in variants} | set(AFTER_A_MISS.values())
        if name not in known or name in VARIANTS:
            raise ValueError(f"unknown step {step!r}; expected one of {', '.join(STEPS)}")
        values = self._context(context)
        parts: list[str] = []
        for part in _PARTS:
            file = f"{name}.{part}"
            try:
                parts.append(self.env.get_template(file).render(values))
            except jinja2.TemplateError as exc:
                if self._overridden(file) or self._from_overrides(exc):
                    broken = getattr(exc, "name", None) or file
                    raise ConfigError(
                        f"the template {broken} in {self.directory} cannot be rendered: {exc}",
                        key="nudges.template_dir",
                    ) from exc
                raise
        subject, text, html = parts
        return Rendered(subject=" ".join(subject.split()), text=_tidy_text(text), html=html.strip() + "\n")

    def _overridden(self, file: str) -> bool:
        return self.directory is not None and (self.directory / file).is_file()

    def _from_overrides(self, exc: jinja2.TemplateError) -> bool:
        """A syntax error in an overriding file that another template includes
        (``_base.html``, ``_phrases.txt`` …)."""
        filename = getattr(exc, "filename", None)
        if self.directory is None or not filename:
            return False
        return Path(filename).resolve().parent == self.directory.resolve()

    def _context(self, context: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {
            "group": {
                "name": self.config.group.name,
                "tracking_address": self.config.group.tracking_address,
            },
            "provider": None,
            "prospects": [],
            "parties": [],
            "event": None,
            "reminder": None,
        }
        values.update(context)
        reply_address = str(values["reply_address"])
        tag = str(values["referral"]["tag"])

        def mailto(keyword: str, body: str | None = None) -> str:
            return mailto_link(reply_address, tag, keyword, body)

        mailto_fn: Callable[[str, str | None], str] = mailto
        values["mailto"] = mailto_fn
        values["status"] = _status(values)
        values["bad_news"] = values["status"] in BAD_NEWS
        values["is_provider"] = _same(values.get("recipient"), values.get("provider"))
        values["is_referrer"] = _same(values.get("recipient"), values.get("referrer"))
        return values


def _tidy_text(text: str) -> str:
    """Trailing spaces off (except the ``-- `` signature separator, which mail
    clients use to leave the footer out of replies) and at most one blank line
    in a row."""
    lines: list[str] = []
    for line in text.splitlines():
        line = line if line == "-- " else line.rstrip()
        if not line and lines and not lines[-1]:
            continue
        lines.append(line)
    return "\n".join(lines).strip("\n") + "\n"
