"""``refmail init``: a group's first config, written from a few answers.

The documentation of every key lives in one place, ``config/refmail.example.toml``.
:func:`render_config` therefore does not write TOML of its own: it takes that
file as a template, replaces the values the answers give and keeps every
comment, so a new administrator gets the same explanations as someone reading
the example, and a key documented there can never be missing here.

The rewriting is line based and deliberately simple: the template's values
are plain TOML (strings, integers, booleans, arrays of strings), one per line.
Anything the rewriting does not find raises :class:`WizardError` instead of
writing a config that silently lacks an answer, and the result is validated
with :func:`refmail.config.config_from_dict` before anyone sees it.

The question flow (:func:`collect_answers`) is UI-agnostic: the CLI passes a
function that asks with click prompts; tests and scripts pass the answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import TypeAdapter, ValidationError

from refmail.admin.hosting import HOSTINGS, OAuthAnswers, oauth_answers, valid_hosting
from refmail.config import Email, config_from_dict, is_loopback
from refmail.config.oauth import ServerPreset
from refmail.errors import RefmailError

__all__ = [
    "Answers",
    "LineAnswers",
    "MemberAnswer",
    "ServerAnswers",
    "WizardError",
    "collect_answers",
    "example_config_path",
    "parse_member",
    "render_config",
    "system_timezone",
    "write_config",
]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_][A-Za-z0-9_-]*)(?P<eq>\s*=\s*)(?P<rest>.*)$")
_SECTION = re.compile(r"^\s*(\[\[?)\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\]\]?\s*(#.*)?$")
_EMAIL = TypeAdapter(Email)

#: Default ports by security mode: RFC 8314 §3.3 (993 and 465 are implicit
#: TLS), RFC 3501 (143) and RFC 6409 (587, submission with STARTTLS).
IMAP_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
SMTP_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
SECURITY = ("ssl", "starttls", "none")


class WizardError(RefmailError):
    """An answer is unusable, or the template no longer has a key to fill in."""


@dataclass(frozen=True)
class ServerAnswers:
    host: str
    port: int
    security: str
    username: str
    password_env: str
    auth: str = "password"


@dataclass(frozen=True)
class MemberAnswer:
    name: str
    email: str
    business: str = ""


@dataclass(frozen=True)
class Answers:
    """Everything ``refmail init`` asks; the rest keeps the example's defaults."""

    group_name: str
    tracking_address: str
    timezone: str
    imap: ServerAnswers
    smtp: ServerAnswers
    admins: tuple[str, ...] = ()
    members: tuple[MemberAnswer, ...] = ()
    database: str = "refmail.db"
    #: Who hosts the mailbox (a key of :data:`refmail.admin.hosting.HOSTINGS`).
    hosting: str = "other"
    oauth: OAuthAnswers | None = None


# -- validation of single answers ------------------------------------------------
def valid_email(value: str) -> str:
    """One address, lower-cased, by the same rule the config uses."""
    try:
        return str(_EMAIL.validate_python(value))
    except ValidationError:
        raise ValueError(f"{value!r} is not an email address") from None


def valid_emails(value: str | Sequence[str]) -> tuple[str, ...]:
    """Comma-separated (or a list of) addresses; empty means none."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(valid_email(v.strip()) for v in items if v.strip())


def valid_timezone(value: str) -> str:
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone such as 'Europe/Berlin'") from None
    return value.strip()


def valid_env_name(value: str) -> str:
    if not _ENV_NAME.match(value.strip()):
        raise ValueError(f"{value!r} is not an environment variable name (letters, digits, _)")
    return value.strip()


def valid_text(value: str) -> str:
    if not value.strip():
        raise ValueError("an answer is needed here")
    return value.strip()


def valid_security(value: str) -> str:
    if value.strip().lower() not in SECURITY:
        raise ValueError(f"{value!r}: choose ssl, starttls or none")
    return value.strip().lower()


def valid_port(value: str | int) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"{port} is not a port number (1-65535)")
    return port


def parse_member(value: str) -> MemberAnswer:
    """``"Tom Becker <tom@roofing.example> Residential roofing"`` → a member."""
    match = re.fullmatch(r"\s*(?P<name>[^<>]+?)\s*<(?P<email>[^<>]+)>\s*(?P<business>.*?)\s*", value)
    if not match:
        raise ValueError(f"{value!r}: write a member as 'Name <email> business'")
    return MemberAnswer(match["name"], valid_email(match["email"]), match["business"])


def system_timezone(
    environ: Mapping[str, str] | None = None, etc: Path = Path("/etc")
) -> str:
    """This machine's IANA zone name, for the default answer; ``"UTC"`` when unknown.

    Tries ``$TZ``, Debian's ``/etc/timezone`` and the ``/etc/localtime`` symlink
    (``…/zoneinfo/Europe/Berlin``), accepting only names zoneinfo knows.
    """
    environ = os.environ if environ is None else environ
    candidates = [environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append((etc / "timezone").read_text(encoding="utf-8").strip())
    try:
        target = os.readlink(etc / "localtime")
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        candidates.append(target.split("zoneinfo/", 1)[1])
    for name in candidates:
        if name and not name.startswith("/"):
            try:
                return valid_timezone(name)
            except ValueError:
                continue
    return "UTC"


# -- the questions ----------------------------------------------------------------
#: ``ask(key, question, default, convert)``: returns the converted answer.
#: ``default`` None means the question has no default (an answer is needed).
Ask = Callable[[str, str, Any, Callable[[str], Any]], Any]


class LineAnswers:
    """An :data:`Ask` that reads one answer per line from a stream: ``refmail init < answers.txt``.

    For a script or a pipe rather than a person, so nothing is asked again: an
    empty line (or the end of the input) takes the question's default, and an
    answer that is not valid, or the input ending where an answer is needed,
    is a :class:`WizardError` naming the line and the question — a wrong
    answer must not shift every later answer onto the wrong question.
    """

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.line = 0

    def __call__(self, key: str, question: str, default: Any, convert: Callable[[str], Any]) -> Any:
        text = next(self._lines, None)
        if text is not None:
            self.line += 1
            text = text.rstrip("\r\n").strip()
        if not text:
            if default is None:
                where = f"line {self.line}" if text is not None else "the end of the input"
                raise WizardError(f"{where}: {question!r} needs an answer")
            text = str(default)
        try:
            return convert(text)
        except ValueError as exc:
            raise WizardError(f"line {self.line} ({question}): {exc}") from None


def collect_answers(given: Mapping[str, Any], ask: Ask | None) -> Answers:
    """Answers from ``given`` (CLI options), else ``ask``, else the defaults.

    ``given`` keys: ``group_name``, ``tracking_address``, ``timezone``,
    ``admins``, ``imap_host``, ``imap_security``, ``imap_port``,
    ``imap_username``, ``imap_password_env``, the same five for ``smtp_``,
    ``database`` and ``members`` (a list of :class:`MemberAnswer` or
    ``"Name <email> business"`` strings). With ``ask`` None (``--defaults``),
    questions without a default must be in ``given``, else :class:`WizardError`
    names them all at once.
    """
    missing: list[str] = []

    def answer(key: str, question: str, default: Any, convert: Callable[[Any], Any]) -> Any:
        value = given.get(key)
        if value is not None:
            try:
                return convert(value)
            except ValueError as exc:
                raise WizardError(f"--{key.replace('_', '-')}: {exc}") from None
        if ask is not None:
            return ask(key, question, default, convert)
        if default is None:
            if not (key == "smtp_host" and "--imap-host" in missing):  # its default is the IMAP host
                missing.append("--" + key.replace("_", "-"))
            return None
        return convert(default)

    group_name = answer("group_name", "Name of the group", None, valid_text)
    tracking = answer(
        "tracking_address", "Tracking address (the shared inbox members copy)", None, valid_email
    )
    timezone = answer("timezone", "Time zone of the group", system_timezone(), valid_timezone)
    admins = answer(
        "admins", "Admin email(s), comma-separated (get the group summary; empty for none)", "",
        valid_emails,
    )
    hosting = answer(
        "provider", f"Who hosts the tracking mailbox? ({', '.join(HOSTINGS)})", "other", valid_hosting
    ) or "other"
    oauth = oauth_answers(answer, HOSTINGS[hosting])
    auth = "oauth2" if oauth else "password"
    imap = _server(answer, "imap", "IMAP", IMAP_PORTS, None, tracking, HOSTINGS[hosting].imap, auth)
    smtp = _server(answer, "smtp", "SMTP", SMTP_PORTS, imap, tracking, HOSTINGS[hosting].smtp, auth)
    database = answer("database", "Database file (relative to the config file)", "refmail.db", valid_text)
    members = _members(given, ask)
    if missing:
        raise WizardError(
            f"no default for {', '.join(missing)}: give {'it' if len(missing) == 1 else 'them'} "
            "as options, or leave out --defaults to be asked"
        )
    return Answers(
        group_name=group_name,
        tracking_address=tracking,
        timezone=timezone,
        admins=tuple(admins),
        imap=imap,
        smtp=smtp,
        members=members,
        database=database,
        hosting=hosting,
        oauth=oauth,
    )


def _server(
    answer: Callable[[str, str, Any, Callable[[Any], Any]], Any],
    prefix: str,
    label: str,
    ports: Mapping[str, int],
    like: ServerAnswers | None,
    tracking: str | None,
    preset: ServerPreset | None = None,
    auth: str = "password",
) -> ServerAnswers:
    default_host = preset.host if preset else (like.host if like else None)
    host = answer(f"{prefix}_host", f"{label} server host", default_host, valid_text)

    def security_for_host(value: Any) -> str:
        security = valid_security(str(value))
        if security == "none" and host and not is_loopback(host):
            raise ValueError('"none" (plain text) is only allowed for a loopback host; use ssl or starttls')
        return security

    security = answer(
        f"{prefix}_security", f"{label} security (ssl, starttls, none)",
        preset.security if preset else "ssl", security_for_host,
    )
    default_port = preset.port if preset and security == preset.security else ports.get(security or "ssl")
    port = answer(f"{prefix}_port", f"{label} port", default_port, valid_port)
    username = answer(
        f"{prefix}_username",
        f"{label} username" + (" (empty: no login)" if prefix == "smtp" else ""),
        like.username if like else (tracking or ""),
        str.strip,
    )
    if auth == "oauth2":  # signs in with the [oauth2] token: no password to name
        return ServerAnswers(host, port, security, username, "", auth)
    password_env = answer(
        f"{prefix}_password_env",
        f"Environment variable holding the {label} password",
        f"REFMAIL_{label}_PASSWORD",
        valid_env_name,
    )
    return ServerAnswers(host, port, security, username, password_env)


def _members(given: Mapping[str, Any], ask: Ask | None) -> tuple[MemberAnswer, ...]:
    listed = given.get("members")
    if listed:
        try:
            parsed = tuple(m if isinstance(m, MemberAnswer) else parse_member(m) for m in listed)
        except ValueError as exc:
            raise WizardError(f"--member: {exc}") from None
        for n, member in enumerate(parsed):
            try:
                _new_address(member.email, parsed[:n])
            except ValueError as exc:
                raise WizardError(f"--member {member.name} <{member.email}>: {exc}") from None
        return parsed
    if ask is None:
        return ()
    members: list[MemberAnswer] = []
    while True:
        n = len(members) + 1
        name = ask("member_name", f"Member {n}: name (empty to finish)", "", str.strip)
        if not name:
            return tuple(members)
        email = ask("member_email", f"Member {n}: email", None,
                    lambda value: _new_address(valid_email(value), members))
        business = ask("member_business", f"Member {n}: business, in one line", "", str.strip)
        members.append(MemberAnswer(name, email, business))


def _new_address(email: str, earlier: Sequence[MemberAnswer]) -> str:
    """``email``, unless an earlier member has it: the config would refuse the file."""
    for member in earlier:
        if member.email == email:
            raise ValueError(f"{email} is already {member.name}'s address; each member needs their own")
    return email


# -- the template -------------------------------------------------------------------
def example_config_path() -> Path:
    """Where ``refmail.example.toml`` is: inside the package (``refmail/admin``),
    which ``config/refmail.example.toml`` in the source tree links to."""
    path = Path(str(resources.files("refmail.admin") / "refmail.example.toml"))
    if not path.is_file():
        raise WizardError(f"cannot find refmail.example.toml (looked in {path}); reinstall refmail")
    return path


def _split_value(rest: str) -> tuple[str, str]:
    """``'"a # b"   # note'`` → ``('"a # b"', '   # note')``: a value and what follows it."""
    depth = 0
    quote: str | None = None
    i = 0
    while i < len(rest):
        ch = rest[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "#" and depth == 0:
            break
        i += 1
    value = rest[:i].rstrip()
    return value, rest[len(value) :]


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string (same escapes).
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _set_value(line: str, value: Any) -> str:
    """``line`` with its value replaced, its comment kept in the same column if it fits."""
    match = _KEY_LINE.match(line)
    assert match is not None
    old, trailing = _split_value(match["rest"])
    head = f"{match['indent']}{match['key']}{match['eq']}"
    new = _toml(value)
    comment = trailing.lstrip()
    if not comment:
        return head + new
    column = len(head) + len(old) + (len(trailing) - len(comment))
    return head + new + " " * max(1, column - len(head) - len(new)) + comment


def _key_of(line: str) -> str | None:
    match = _KEY_LINE.match(line)
    return match["key"] if match and not line.lstrip().startswith("#") else None


def _comment_of(line: str) -> str:
    match = _KEY_LINE.match(line)
    if match is None or line.lstrip().startswith("#"):
        return line
    return _split_value(match["rest"])[1]


def render_config(answers: Answers, template: str) -> str:
    """The config file for ``answers``: ``template`` with its values replaced.

    Every comment of ``template`` is kept. The example member's first name and
    the example tracking address's local part (before a ``+``) and domain in
    comments become the new group's, so the explanations read true ("other
    addresses Ann writes from", "replies come back as referrals+TOKEN@…"). Raises :class:`WizardError` if a
    key to fill in is missing from the template, and :class:`ConfigError` if
    the result would not load (it always should).
    """
    example = tomllib.loads(template)
    values: dict[tuple[str, str], Any] = {
        ("group", "name"): answers.group_name,
        ("group", "tracking_address"): answers.tracking_address,
        ("group", "admins"): list(answers.admins),
        ("group", "timezone"): answers.timezone,
        ("storage", "database"): answers.database,
    }
    for section, server in (("imap", answers.imap), ("smtp", answers.smtp)):
        for name in ("host", "port", "security", "username", "password_env", "auth"):
            values[(section, name)] = getattr(server, name)
    if answers.oauth is not None:
        for name in ("provider", "flow", "tenant", "client_id", "client_secret_env", "service_account_file"):
            values[("oauth2", name)] = getattr(answers.oauth, name)

    # Comments that show the example group's addresses show the new group's:
    # "refs+TOKEN@harbornet.example", "refs+ask@…", "mx.harbornet.example".
    old_local, _, old_domain = str(example["group"]["tracking_address"]).partition("@")
    new_local, _, new_domain = answers.tracking_address.partition("@")
    swaps = [
        (re.compile(rf"\b{re.escape(old_local)}\+"), f"{new_local}+"),
        (re.compile(rf"(?<=[@.]){re.escape(old_domain)}\b"), new_domain),
    ]

    lines = template.splitlines()
    blocks = _member_blocks(lines)
    out: list[str] = []
    done: set[tuple[str, str]] = set()
    section = ""
    i = 0
    while i < len(lines):
        if blocks and i == blocks[0][0]:
            out.extend(_render_members(lines, blocks, answers.members, example))
            i = blocks[-1][1]
            section = "members"
            continue
        line = lines[i]
        header = _SECTION.match(line)
        if header:
            section = header.group(2)
        key = _key_of(line)
        if key is not None and (section, key) in values:
            line = _set_value(line, values[(section, key)])
            done.add((section, key))
        for pattern, replacement in swaps:
            comment = _comment_of(line)
            if pattern.search(comment):
                line = line[: len(line) - len(comment)] + pattern.sub(replacement, comment)
        out.append(line)
        i += 1

    missing = sorted(f"{s}.{k}" for s, k in set(values) - done)
    if missing or not blocks:
        raise WizardError(
            "the config template has changed: cannot find "
            + ", ".join(missing or ["a [[members]] block"])
        )
    text = "# Written by `refmail init`. Edit freely: every key is explained below.\n" + "\n".join(out)
    text += "\n"
    config_from_dict(tomllib.loads(text))  # never hand out a config that does not load
    return text


def _member_blocks(lines: list[str]) -> list[tuple[int, int]]:
    """``(start, end)`` line ranges of each ``[[members]]`` block (up to a blank line)."""
    blocks: list[tuple[int, int]] = []
    i = 0
    while i < len(lines):
        match = _SECTION.match(lines[i])
        if match and match.group(1) == "[[" and match.group(2) == "members":
            end = i + 1
            while end < len(lines) and lines[end].strip() and not _SECTION.match(lines[end]):
                end += 1
            blocks.append((i, end))
            i = end
        else:
            i += 1
    return blocks


def _render_members(
    lines: list[str],
    blocks: list[tuple[int, int]],
    members: Sequence[MemberAnswer],
    example: dict[str, Any],
) -> list[str]:
    """The members: the first like the template's first (commented) block, the
    others like its last; with no members, the first block commented out."""
    first = lines[blocks[0][0] : blocks[0][1]]
    plain = lines[blocks[-1][0] : blocks[-1][1]]
    if not members:
        return [
            "# No members yet: add one block like this per member.",
            *(f"# {line}" for line in first),
        ]
    example_first_name = str(example["members"][0]["name"]).split()[0]
    out: list[str] = []
    for n, member in enumerate(members):
        if n:
            out.append("")
        values: dict[str, Any] = {
            "name": member.name,
            "email": member.email,
            "business": member.business,
            "aliases": [],
            "looking_for": "",
            "not_looking_for": "",
        }
        first_name = member.name.split()[0] if member.name.split() else member.name
        for line in first if n == 0 else plain:
            key = _key_of(line)
            if key is not None and key in values:
                line = _set_value(line, values[key])
            comment = _comment_of(line)
            if example_first_name and re.search(rf"\b{re.escape(example_first_name)}\b", comment):
                new_comment = re.sub(rf"\b{re.escape(example_first_name)}\b", first_name, comment)
                line = line[: len(line) - len(comment)] + new_comment
            out.append(line)
    return out


# -- writing --------------------------------------------------------------------------
def write_config(path: Path, text: str, *, force: bool = False) -> None:
    """Write ``text`` to ``path``; an existing file is replaced only with ``force``.

    Written to a temporary file beside it and renamed (POSIX rename is atomic),
    so an interrupted ``init --force`` never leaves half a config.
    """
    if path.exists() and not force:
        raise WizardError(f"{path} already exists; use --force to replace it")
    if path.is_dir():
        raise WizardError(f"{path} is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise WizardError(f"cannot write {path}: {exc.strerror or exc}") from None

