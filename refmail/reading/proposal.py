"""Consent-first introductions: reading a proposal and the answers to it — pure, no I/O.

SPEC "Consent-first introductions": a member writes the intro they would like
to make to ``refs+ask@…``, naming the people *and their addresses in the
text*; refmail asks the prospect (and maybe the provider) first, and when
everyone said yes hands the referrer a one-click ``mailto:`` link that opens
the introduction, ready to send, in their own mail client — so the intro
still comes from the referrer's address and is signed by their own server.

Two building blocks live here, and the third in :mod:`refmail.policy.draft`:

* :func:`read_proposal` — who is named in the member's text (any way people
  write an address, in English, German, Spanish or French), their names,
  and the roles as :func:`refmail.reading.roles.assign_roles` reads them (never a
  guess).
* :func:`read_answer` — YES / NO / NOT NOW (and "is this work you take on?")
  from the first lines of a reply, with everyday variants and negation traps.
* (:mod:`refmail.policy.draft`) :func:`~refmail.policy.draft.intro_draft` and
  :func:`~refmail.policy.draft.intro_mailto` — the introduction's words and the
  RFC 6068 link that opens them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from refmail.config import Config
from refmail.mail.decoding import TAG, drop_elements
from refmail.mail.reply import extract_reply
from refmail.reading import consent_words as words
from refmail.reading.roles import Party, assign_roles

__all__ = [
    "ANSWER_KEYWORDS",
    "Answer",
    "Person",
    "Proposal",
    "read_answer",
    "read_proposal",
    "without_addresses",
]

#: Only the start of a long text is read; the cost stays bounded whatever lands in the inbox.
MAX_CHARS = 50_000
#: The one-click answers the consent emails offer (the template buttons); each
#: one read by :func:`read_answer` as what it says.
ANSWER_KEYWORDS = ("YES", "NO", "NOT NOW", "NOT WORK I DO")


@dataclass(frozen=True)
class Person:
    """Someone named in a proposal: canonical lower-case address and a display name."""

    address: str
    name: str  # "" when nothing sensible is known (a generic mailbox such as info@)

    @property
    def first_name(self) -> str:
        """The word to greet them with: the name's first word, else the address."""
        words = self.name.split()
        return words[0] if words else self.address


@dataclass(frozen=True)
class Proposal:
    """What a member's proposal says (see :func:`read_proposal`)."""

    people: list[Person]
    provider: str | None
    prospects: list[str] = field(default_factory=list)
    text: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Answer:
    """A reply to a consent request.

    ``decision`` is ``"yes"``, ``"no"``, ``"later"`` or None (nothing
    recognisable: the text is only a reason); ``does_work`` the provider's
    answer to "is this work you take on?" (None when not said); ``reason``
    the free text kept for the referrer ("" when the reply was only a keyword).
    """

    decision: str | None
    does_work: bool | None
    reason: str


# =========================================================================== proposals

# RFC 5321 §4.5.3.1: a local part has at most 64 octets; bounded quantifiers keep the
# search linear whatever the text. Not inside a longer token ("x.carl@…", "carl@x.example-y").
_ADDRESS_RE = re.compile(
    r"(?<![\w.+-])\w[\w.!#$%&'*+/=?^`{|}~-]{0,63}@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.){1,10}[^\W\d_]{2,24}"
    r"(?![\w-])"
)
# What may stand just before an address inside brackets: "<", "(", "[", each with "mailto:".
_OPENER_RE = re.compile(r"(?:[<(\[]\s{0,3}(?:mailto:)?|mailto:)\s{0,3}$", re.IGNORECASE)
_CLOSER_RE = re.compile(r"\s{0,3}[>)\]]")
_QUOTED_BEFORE_RE = re.compile(r"[\"“”„«]\s*([^\"“”„«»\n]{1,80}?)\s*[\"“”»]$")
_BRACKETED_BEFORE_RE = re.compile(r"\[([^\[\]\n]{1,80})\]$")  # "[Carl Winters](mailto:…)"
# "carl@… (Carl Winters)": the old RFC 822 comment form.
_COMMENT_AFTER_RE = re.compile(r"[ \t]{0,3}>?[ \t]{0,3}\(\s*([^()\n@]{2,60}?)\s*\)")
_TRAILING_ASIDE_RE = re.compile(r"\([^()\n]{0,60}\)$")
# Labels and separators between a name and its address: "Carl Winters, email: carl@…".
_SEPARATOR_CHARS = " \t:,;|/>•·*=–—-"
_LABEL_AT_END_RE = re.compile(
    r"(?<![\w-])(?:e-?mail|mail|address|adresse|correo|courriel|at|unter|via|à|bei|chez)$", re.IGNORECASE
)
_BULLET_RE = re.compile(r"^\s*(?:[-*•·–—>]+|\d{1,2}[.)]|[a-z][.)])\s+", re.IGNORECASE)
_LABEL_LINE_RE = re.compile(
    r"^\s*(?:e-?mail|mail|address|adresse|correo|courriel|contact|kontakt|name|nom|nombre)\s*:?\s*$",
    re.IGNORECASE,
)
_NAME_LABEL_RE = re.compile(r"^\s*(?:name|nom|nombre|kontakt|contact)\s*:\s*", re.IGNORECASE)
_PARTICLES = frozenset("de la del van von der den du le da di dos das bin al el ten ter y".split())  # noqa: SIM905
#: Capitalised words that start a sentence or a greeting, titles and role words:
#: never the first word of a name written next to an address.
_NOT_NAMES = frozenset(
    """hi hello hey dear hallo liebe lieber hola querido querida estimado estimada bonjour salut
    cher chère chere please bitte meet introducing intro introduce ask contact email e-mail mail name
    and und et y with mit con avec to an a à i ich je me we wir nous my mein meine mi mon ma our unser
    also then client customer kunde kundin kunden cliente prospect provider mr mrs ms miss dr prof
    herr herrn frau sr sra srta don doña m mme mlle monsieur madame señor señora the der die das el
    la le les los las his her ihr sein seine su sa son""".split()  # noqa: SIM905
)
_GREETINGS = frozenset("hi hello hey dear hallo liebe lieber hola querido querida bonjour salut cher".split())  # noqa: SIM905
_GENERIC_LOCALS = frozenset(
    "info contact office hello admin mail team sales support billing noreply no-reply kontakt "  # noqa: SIM905
    "buero bureau contacto oficina hola bonjour accounts service".split()
)
# Priorities of a name source: lower wins.
_QUOTED, _WRITTEN, _LINE_ABOVE, _MEMBER, _LOCAL_PART = range(5)


def _fold_word(word: str) -> str:
    text = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def _is_name_word(token: str) -> bool:
    """A capitalised word of a name: "Carl", "O'Brien", "Jean-Luc", "J.", "Müller"."""
    if not token or not token[0].isupper() or not token[0].isalpha():
        return False
    body = token[:-1] if token.endswith(".") else token
    if token.endswith(".") and len(body) > 1 and _fold_word(body) not in _NOT_NAMES:
        return False  # "Winters." ends a sentence; "J." and "Dr." do not
    if not re.fullmatch(r"[^\W\d_][\w'’-]*", body):
        return False
    return not (body.isupper() and 2 <= len(body) <= 4)  # "IT", "CEO", "HR" are not names


def _explained(word: str, local: str) -> bool:
    """Does the address's local part account for ``word`` (its initial or the word itself)?"""
    folded = re.sub(r"[^a-z]", "", _fold_word(word))
    return bool(folded) and (folded[0] == local[:1] or (len(folded) > 1 and folded in local))


def _name_run(prefix: str, address: str, *, whole: bool = False) -> str:
    """The name written at the end of ``prefix`` (just before ``address``), or "".

    The run of capitalised words (with particles: "Ana de la Cruz") ending the
    prefix, without leading greetings, titles and role words ("Bitte Herrn Carl
    Winters"). A run of three words or more loses leading words the local part
    does not account for ("meinen Kunden Carl Winters (carl@…)"). ``whole``: the
    run must be all of ``prefix`` (a name alone on the line above the address).
    """
    tokens = prefix.split()
    run: list[str] = []
    while tokens and len(run) < 5:
        token = tokens[-1]
        if not (_is_name_word(token) or (token in _PARTICLES and run)):
            break
        run.insert(0, tokens.pop())
    if whole and tokens:
        return ""
    if whole and run and _fold_word(run[0]) in _GREETINGS:
        return ""
    while run and (run[0] in _PARTICLES or _fold_word(run[0].rstrip(".")) in _NOT_NAMES):
        run.pop(0)
    local = re.sub(r"[^a-z]", "", _fold_word(address.partition("@")[0].partition("+")[0]))
    while len(run) > 2 and not _explained(run[0], local):
        run.pop(0)
    if not run or all(w in _PARTICLES for w in run) or (whole and len(run) > 4):
        return ""
    return " ".join(run)


def _clean_display(name: str) -> str:
    """A display name as written, tidied: quotes off, "Winters, Carl" → "Carl Winters"."""
    name = " ".join(name.strip().strip("\"'“”„«»").split())
    if "@" in name or not any(c.isalpha() for c in name):
        return ""
    last, comma, first = name.partition(",")
    if comma and "," not in first and first.strip() and all(_is_name_word(w) for w in first.split()):
        name = f"{first.strip()} {last.strip()}"
    return name[:80]


def _from_local_part(address: str) -> str:
    """"carl.winters@…" → "Carl Winters"; a generic mailbox ("info@…") → ""."""
    local = address.partition("@")[0].partition("+")[0]
    if local.lower() in _GENERIC_LOCALS:
        return ""
    words = [w for w in re.split(r"[._\-\d]+", local) if w]
    longer = [w for w in words if len(w) > 1]
    return " ".join(w.capitalize() for w in (longer or words))


def _strip_separators(text: str) -> str:
    """``text`` without the labels, separators and aside that end it ("Carl Winters (IT), email:")."""
    while True:
        stripped = text.rstrip(_SEPARATOR_CHARS)
        stripped = _LABEL_AT_END_RE.sub("", stripped)
        stripped = _TRAILING_ASIDE_RE.sub("", stripped.rstrip())
        if stripped == text:
            return text
        text = stripped


def _names_near(text: str, start: int, end: int, address: str) -> list[tuple[int, str]]:
    """Names written next to the address at ``text[start:end]``, with their priority."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    before = text[max(line_start, start - 200) : start]  # a name is a few words: bounded work
    found: list[tuple[int, str]] = []
    opener = _OPENER_RE.search(before)
    prefix = (before[: opener.start()] if opener else before).rstrip()
    quoted = _QUOTED_BEFORE_RE.search(prefix)
    bracketed = _BRACKETED_BEFORE_RE.search(prefix)
    if quoted and (name := _clean_display(quoted.group(1))):
        found.append((_QUOTED, name))
    else:
        written = _name_run(bracketed.group(1), address, whole=True) if bracketed else ""
        if written := written or _name_run(_strip_separators(prefix), address):
            found.append((_WRITTEN, written))
    comment = None if opener else _COMMENT_AFTER_RE.match(text, end, line_end)
    if comment and (name := _name_run(comment.group(1), address, whole=True)):
        found.append((_WRITTEN, name))
    # A name alone on the line above an address alone on its line ("Email: " allowed).
    rest = _BULLET_RE.sub("", prefix) if start - line_start <= 200 else "x"
    closer = _CLOSER_RE.match(text, end, line_end)
    after = text[closer.end() if closer else end : line_end].strip(" \t.,;")
    if not found and (not rest.strip() or _LABEL_LINE_RE.match(rest)) and not after and line_start > 0:
        above_start = max(text.rfind("\n", 0, line_start - 1) + 1, line_start - 1 - 200)
        above = _NAME_LABEL_RE.sub("", _BULLET_RE.sub("", text[above_start : line_start - 1]))
        if name := _name_run(_strip_separators(above.strip()), address, whole=True):
            found.append((_LINE_ABOVE, name))
    return found


#: At most this many addresses are read from one proposal.
_MAX_ADDRESSES = 200


def _addresses(text: str) -> list[re.Match[str]]:
    """The well-formed addresses in ``text`` (no empty label, no ".." or trailing dot in the local part)."""
    found = []
    for match in _ADDRESS_RE.finditer(text):
        local = match.group(0).rpartition("@")[0]
        if ".." in local or local.endswith("."):
            continue
        found.append(match)
        if len(found) >= _MAX_ADDRESSES:
            break
    return found


def _part_of(written: str, full: str) -> bool:
    """Are all the words of ``written`` words of ``full`` ("Omar" of "Omar Haddad")?"""
    words = {_fold_word(w) for w in full.split()}
    return bool(written.split()) and all(_fold_word(w) in words for w in written.split())


def _people(text: str, referrer: str, config: Config) -> list[Person]:
    """Everyone named with an address in ``text``, first mention first (see :func:`read_proposal`)."""
    best: dict[str, tuple[int, str]] = {}
    for match in _addresses(text):
        written = match.group(0)
        if config.is_tracking_address(written):
            continue
        address = config.canonical(written)
        if address == referrer or config.is_tracking_address(address):
            continue
        candidates = _names_near(text, match.start(), match.end(), written)
        member = config.member(address)
        if member is not None:
            candidates.append((_MEMBER, member.name))
        candidates.append((_LOCAL_PART, _from_local_part(written)))
        chosen = min(candidates, key=lambda c: c[0])
        if member is not None and chosen[0] > _QUOTED and _part_of(chosen[1], member.name):
            chosen = (chosen[0], member.name)  # "Omar" written, "Omar Haddad" in the config
        if address not in best or chosen[0] < best[address][0]:
            best[address] = chosen
    return [Person(address, name) for address, (_, name) in best.items()]


# Linear on hostile HTML and text: a tag holds no "<", an anchor's label at most a
# name's length, and a run of blanks is entered at its start only (possessive):
# "[^>]*?", "(.*?)</a>" and "[ \t]+" from every position were quadratic.
_MAILTO_ANCHOR = re.compile(
    r"<a\b[^<>]*?href\s*=\s*[\"']?\s*mailto:([^\"'?<>\s]+)[^<>]*>(.{0,500}?)</a\s*>",
    re.IGNORECASE | re.DOTALL,
)
_BREAKS = re.compile(r"<(?:br|/p|/div|/li|/tr|/h\d)\b[^<>]*>", re.IGNORECASE)
_BLANKS_BEFORE_PUNCTUATION = re.compile(r"(?<![ \t])[ \t]++([,.;:!?])")


def without_addresses(text: str) -> str:
    """``text`` with every address (and its brackets, ``mailto:``) taken out, for roles and drafts."""
    out: list[str] = []
    at = 0
    for match in _addresses(text):
        start, end = match.start(), match.end()
        if start < at:
            continue
        opener = _OPENER_RE.search(text, max(at, start - 12), start)
        closer = _CLOSER_RE.match(text, end)
        if opener and closer and opener.group(0).strip()[:1] in "<([":
            start, end = opener.start(), closer.end()
        elif opener and opener.group(0).strip().lower().startswith("mailto"):
            start = opener.start()
        out.append(text[at:start].rstrip(" \t") if text[at:start].strip() else text[at:start])
        at = end
    out.append(text[at:])
    joined = "".join(out)
    joined = _BLANKS_BEFORE_PUNCTUATION.sub(r"\1", joined)
    return re.sub(r"[ \t]{2,}", " ", joined)


def _mailto_anchors_as_text(html: str) -> str:
    """An HTML body as text where ``<a href="mailto:x">Carl</a>`` reads ``Carl [mailto:x]``.

    Converters such as html-text keep only the link text, and with it the
    address would be lost; Outlook's own text conversion writes it this way.
    """
    import html as html_module

    def anchor(m: re.Match[str]) -> str:
        label = TAG.sub("", m.group(2))
        return f"{label} [mailto:{m.group(1)}]"

    marked = _MAILTO_ANCHOR.sub(anchor, drop_elements(html))
    marked = _BREAKS.sub("\n", marked)
    return html_module.unescape(TAG.sub("", marked))


def read_proposal(text: str, *, referrer: str, config: Config, html: str | None = None) -> Proposal:
    """Read the intro a member would like to make, as written to ``refs+ask@…``.

    People are found by their addresses, in any of the ways people write them:
    ``Carl Winters <carl@…>``, ``"Winters, Carl" <carl@…>``, ``Carl Winters
    (carl@…)``, ``carl@… (Carl Winters)``, a bare address, ``mailto:`` links
    and the forms HTML-to-text conversion leaves (``Carl [mailto:carl@…]``,
    ``Carl <mailto:carl@…>``), bullet lists, a name on one line and the
    address on the next, inside sentences in any language ("Ich möchte Carl
    Winters (carl@…) mit Betty … bekannt machen"). A person's name is the
    display name when one is written, else the name written next to the
    address, else the member's name from the config, else one derived from the
    local part ("carl.winters" → "Carl Winters"; "" for ``info@``).

    Addresses are lower-cased and canonical (member aliases → the member);
    the referrer (also their aliases, e.g. in their own signature) and every
    tracking address are left out; each person appears once, in order of
    first mention. Only the member's own words are read — quoted history and
    signature are removed with :func:`refmail.mail.reply.extract_reply` — unless
    they name fewer than two people, in which case the whole text is read
    (a proposal whose addresses sit in a forwarded message below). ``html``
    (the HTML part) is read the same way when the text names fewer than two.

    Roles come from :func:`refmail.reading.roles.assign_roles` on the words with the
    addresses taken out; when they are not clear, ``provider`` is None and
    ``prospects`` empty — refmail asks rather than guesses. Never raises.
    """
    text = (text or "")[:MAX_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    referrer = config.canonical((referrer or "").strip())
    try:
        own = extract_reply(text).strip()
    except Exception:  # an odd message must not lose the proposal
        own = text.strip()
    own = own or text.strip()
    people = _people(own, referrer, config)
    if len(people) < 2:
        people = _merge(people, _people(text, referrer, config))
    if len(people) < 2 and html:
        people = _merge(people, _people(_mailto_anchors_as_text(html[:MAX_CHARS]), referrer, config))
    if len(people) < 2:
        count = "nobody" if not people else f"only {people[0].address}"
        return Proposal(people, None, [], own, f"a proposal names two people with their addresses; "
                                              f"this one names {count}")
    words = without_addresses(own)
    parties = [Party(p.address, p.name, config.is_member(p.address)) for p in people]
    try:
        roles = assign_roles(words, parties, config)
        provider, prospects, why = roles.provider, list(roles.prospects), roles.reason
    except Exception as exc:  # roles unknown is a valid outcome: the referrer is asked
        provider, prospects, why = None, [], f"roles unknown ({type(exc).__name__})"
    named = ", ".join(p.address for p in people)
    return Proposal(people, provider, prospects, own, f"{len(people)} people named ({named}); {why}")


def _merge(first: list[Person], more: Iterable[Person]) -> list[Person]:
    seen = {p.address for p in first}
    return [*first, *(p for p in more if p.address not in seen)]


# =========================================================================== answers


def _fold(text: str) -> str:
    """Lower case without accents, one character for one, so offsets map back to ``text``."""
    out = []
    for char in text.replace("’", "'").replace("‘", "'"):
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        low = base.lower()
        out.append(low[0] if low else " ")
    return "".join(out)


def _words(alternatives: Iterable[str]) -> re.Pattern[str]:
    return re.compile(r"(?<![\w'])(?:" + "|".join(alternatives) + r")(?![\w'])")


_NOT_WORK = _words(words.NOT_WORK)
_DOES_WORK = _words(words.DOES_WORK)
_LATER = _words(words.LATER)
_LATER_ALONE = re.compile(words.LATER_ALONE)
_NEUTRAL = _words(words.NEUTRAL)
_YES = _words(words.YES)
_NO = _words(words.NO)
_CLAUSE_END = re.compile(r"[.!?;,:\n]| but | aber | pero | mais ")
#: What is left of a line once its answer is taken: punctuation and a polite word.
_FILLER_RE = re.compile(
    r"^(?:[\s.,;:!?)\]–—-]+|(?:thanks|thank you|sorry|gracias|lo siento|danke|leider|merci|desolee?|"
    r"désolée?)(?![\w']))+", re.IGNORECASE,
)
#: Answer phrases are looked for in the first characters of a line only (bounded work).
_MAX_LINE = 500


def _negated(line: str, start: int) -> bool:
    """A negation among the three words before ``start`` in its clause ("not sure", "not happy to")."""
    before = line[:start]
    cut = max((m.end() for m in _CLAUSE_END.finditer(before)), default=0)
    found = re.findall(r"[\w']+", before[cut:])[-3:]
    return any(w in words.NEGATORS or w.endswith("n't") for w in found)


@dataclass
class _Hit:
    kind: str  # "not_work", "does_work", "later", "yes", "no"
    line: int
    start: int
    end: int


def _hits(lines: list[str]) -> list[_Hit]:
    """Answer phrases on the folded lines, strongest kind first; each span is used once."""
    hits: list[_Hit] = []
    for number, line in enumerate(lines):
        taken = [False] * len(line)
        for kind, pattern, check in (("not_work", _NOT_WORK, False), ("neutral", _NEUTRAL, False),
                                     ("does_work", _DOES_WORK, True), ("later", _LATER, False),
                                     ("yes", _YES, True), ("no", _NO, False)):
            for m in pattern.finditer(line):
                if m.end() == m.start() or any(taken[m.start():m.end()]):
                    continue
                if check and _negated(line, m.start()):
                    continue
                taken[m.start():m.end()] = [True] * (m.end() - m.start())
                if kind != "neutral":
                    hits.append(_Hit(kind, number, m.start(), m.end()))
        if _LATER_ALONE.match(line):
            hits.append(_Hit("later", number, 0, len(line)))
    return hits


def read_answer(reply_text: str) -> Answer:
    """What a reply to a consent request says (``reply_text``: the new text only,
    e.g. :func:`refmail.mail.reply.extract_reply` output).

    As with status keywords (:mod:`refmail.reading.command`), only the first three
    non-empty lines are read for the answer, in English, German, Spanish and
    French, accents folded: YES / NO / NOT NOW and everyday variants ("sure,
    happy to", "gerne", "no gracias", "pas maintenant"). For providers, "not
    work I do" ("outside my area", "das mache ich nicht", "ce n'est pas mon
    domaine") is ``does_work=False`` and a no; "that's exactly what I do" is
    ``does_work=True`` and, unless something else is said, a yes.

    Precedence: not-work-I-do, then "later" (a "no, not right now" is a not
    now), then the first of yes and no. Negations are respected ("not sure
    yet" is undecided, "not happy to" is not a yes, "no problem, happy to" is
    a yes). The reason is the whole text, less the answer phrase when it
    opens its line; "" when only a keyword was sent. Never raises.
    """
    text = (reply_text or "")[:MAX_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    all_lines = [line for line in text.split("\n") if not line.lstrip().startswith(">")]
    indexes = [i for i, line in enumerate(all_lines) if line.strip()][:3]
    folded = [_fold(all_lines[i][:_MAX_LINE]) for i in indexes]
    hits = _hits(folded)
    kinds = {h.kind for h in hits}
    does_work = False if "not_work" in kinds else True if "does_work" in kinds else None
    decision: str | None = None
    deciding: _Hit | None = None
    if "not_work" in kinds:
        decision, deciding = "no", next(h for h in hits if h.kind == "not_work")
    elif "later" in kinds:
        decision, deciding = "later", next(h for h in hits if h.kind == "later")
    else:
        answers = [h for h in hits if h.kind in ("yes", "no")]
        first = min(answers, key=lambda h: (h.line, h.start), default=None)
        if first is not None:
            decision, deciding = first.kind, first
        elif does_work:
            decision, deciding = "yes", next(h for h in hits if h.kind == "does_work")
    lines = list(all_lines)
    if deciding is not None:
        # Take the answer words off the front of their line: "No thanks, I have one" → "I have one".
        index = indexes[deciding.line]
        line = lines[index]
        opening = [h for h in hits if h.line == deciding.line]
        opening.sort(key=lambda h: h.start)
        cut = 0
        for hit in opening:
            if not re.fullmatch(r"[\W_]*", line[cut:hit.start]):
                break
            cut = hit.end
        if cut >= deciding.end:  # the line opens with the answer
            rest = _FILLER_RE.sub("", line[cut:])
            if rest.strip():
                lines[index] = rest
            else:
                del lines[index]
    reason = "\n".join(lines).strip()
    return Answer(decision, does_work, reason)


# =========================================================================== the introduction
