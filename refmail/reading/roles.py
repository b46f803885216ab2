"""Who is the provider and who the prospect(s) in an introduction — pure, no I/O.

In "Omar, meet Grace. Grace runs Lumen Dental and … she's looking for someone
reliable to look after her computers. Grace, Omar is the IT person I told you
about." the **provider** (who receives the business) is Omar and the
**prospect** (who has the need) is Grace (SPEC "People and words").

A wrong answer is worse than none: refmail would thank the wrong person and ask
the client how the sale went. So this module reads only short, explicit cues,
attributes each to the party it is about, and decides only when the evidence is
consistent (:func:`assign_roles` lists the rules). Anything else yields
``provider=None, prospects=[]`` and a reason, and refmail asks the referrer
(SPEC "The flow", step 1).

How a cue finds its subject, deliberately shallow:

* The text is split into sentences. Party names (first, last or full, matched
  accent-insensitively, the first letter with its case) and pronouns are the
  *subject candidates*.
* A cue such as "is looking for" belongs to the nearest candidate before it in
  the same sentence, if what lies between is short and has no clause break
  (``;`` or ``:``); comma-enclosed asides and parentheses are skipped
  ("Grace, who runs Lumen Dental, needs …"). Nearest-before also fits SOV and
  pro-drop languages ("weil Grace einen Steuerberater sucht", "Grace tiene una
  clínica y busca …").
* "I"/"we", "someone" and relative pronouns that do not follow a name directly
  ("someone who can help") are candidates that belong to nobody: they stop a
  cue from reaching back to a party it is not about.
* "he/she" means the only party named before it in the sentence (or, failing
  that, in the closest earlier sentence of the paragraph that names one); two
  parties named → unknown. "they" may be a couple ("Ann and Bob … they need").
  "you" means the party last addressed ("Grace, you mentioned …"): a sentence
  that opens with a name and a comma addresses it, and does not describe it
  ("Grace, Omar is the IT person I told you about").
* A negation between subject and cue ("doesn't", "nicht", "no", "ne … pas")
  removes the cue; "to look after" (an infinitive) and "her needs" (a noun)
  are not cues.

The cue tables (:data:`CUES`, :data:`PRONOUNS`) are data, one row per cue and
language, in :mod:`refmail.reading.role_cues`, compiled once at import and looked up by
first word (about 0.5 ms for a 2 KB intro).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from refmail.reading.name_search import caseless_key, find_form, name_pattern, plain_form
from refmail.reading.role_cues import (
    CONJUNCTION_RE,
    CUES,
    DETERMINER_BEFORE_RE,
    GREETING_RE,
    INDEX,
    INFINITIVE_BEFORE_RE,
    NEGATED_AFTER_RE,
    NEGATED_NEXT_RE,
    NEGATION_RE,
    PRONOUN_KINDS,
    PRONOUNS,
    THAT_TRANSPARENT_RE,
    Cue,
    fold,
    text_keys,
    word_key,
)

if TYPE_CHECKING:
    from refmail.config import Config

__all__ = ["CUES", "PRONOUNS", "Cue", "Party", "Roles", "assign_roles", "fold"]

#: Only the start of a long text is read: an intro says who is who early, and
#: the cost must stay bounded whatever lands in the inbox.
MAX_CHARS = 20_000


@dataclass(frozen=True)
class Party:
    """One person the intro is addressed to (recipients minus tracker and referrer)."""

    address: str  # lower-case, canonical
    name: str  # display name from the headers, may be ""
    is_member: bool  # a member of the group (members are the businesses of the group)


@dataclass(frozen=True)
class Roles:
    """The verdict: ``provider`` None (and ``prospects`` empty) when unknown."""

    provider: str | None
    prospects: list[str] = field(default_factory=list)
    reason: str = ""


_ASIDES_RE = re.compile(r"\([^()]*\)|,[^,;:]{0,80},")
_VOCATIVE_END_RE = re.compile(r"\s*[,:!]|\s+-\s")
_HEADER_LINE_RE = re.compile(
    r"^[ \t>]*(?:from|to|cc|bcc|date|sent|subject|von|an|gesendet|betreff|datum|de|para|"
    r"enviado|asunto|fecha|à|objet|envoyé)[ \t]*:.*$",
    re.IGNORECASE | re.MULTILINE,
)
_QUOTE_MARK_RE = re.compile(r"^[ \t]*(?:>[ \t]?)+", re.MULTILINE)
# A sentence ends at . ! ? before a space, or at a kept line break; not after
# "Dr.", "e.g." or an initial ("J. Smith").
_SENTENCE_END_RE = re.compile(
    r"[.!?]"  # first, so the engine can jump from one to the next
    + "".join(f"(?<!\\W{re.escape(abbr)}\\.)" for abbr in (
        "dr", "mr", "ms", "st", "sr", "hr", "fr", "jr", "co", "vs", "mrs", "sra", "mme", "inc",
        "ltd", "etc", "prof", "e.g", "i.e", "z.b"))
    # Bounded runs: "[.!?]*" scanned ".?.?.?…" to its end from each mark (quadratic).
    # Only m.end() is used, and a long run still ends where it did.
    + r"(?<!\W\w\.)[.!?]{0,20}+[\"')\]]{0,10}+(?=\s)|\n",
    re.IGNORECASE,
)
_TITLES = frozenset(
    "dr mr mrs ms miss prof herr frau sr sra srta don dona m mme mlle monsieur madame".split()  # noqa: SIM905
)
_PARTICLES = frozenset(
    "de la del van von der den du le da di dos das y e bin al el ten ter".split()  # noqa: SIM905
)
_GENERIC_LOCALS = frozenset(
    "info contact office hello admin mail team sales support billing noreply no-reply kontakt "  # noqa: SIM905
    "buero bureau contacto oficina hola bonjour accounts service".split()
)


_BRACKETED_RE = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_NAME_SUFFIX_RE = re.compile(r"\s+(?:\||-|–|—|via|/)\s+")
_LOCAL_SPLIT_RE = re.compile(r"[._\-\d]+")
_PARAGRAPH_RE = re.compile(r"\n[ ]*\n")
_COMMA_GAP_RE = re.compile(r"\s*,?\s*")
_AFTER_GAP_RE = re.compile(r"\s*[,:-]?\s*")


# -- names -------------------------------------------------------------------------
def _name_tokens(party: Party, config: Config | None) -> list[str]:
    """The words of a party's name; from the address local part when unnamed."""
    name = party.name.strip().strip("\"'")
    if not name and config is not None:
        member = config.member(party.address)
        name = member.name if member else ""
    if "@" in name:
        name = ""
    name = _NAME_SUFFIX_RE.split(_BRACKETED_RE.sub(" ", name))[0]
    if "," in name:  # "Winters, Carl"
        last, _, first = name.partition(",")
        name = f"{first} {last}"
    words = name.split()
    if not words:
        local = party.address.partition("@")[0].partition("+")[0]
        if local.lower() in _GENERIC_LOCALS:
            return []
        words = [w.capitalize() for w in _LOCAL_SPLIT_RE.split(local) if w]
    tokens = []
    for word in words:
        word = word.strip(".,;:\"'")
        if word.lower().rstrip(".") in _TITLES or word.lower() in _PARTICLES:
            continue
        if len(word) < 2 or not any(c.isalpha() for c in word):
            continue
        if word.islower() or word.isupper():
            word = "-".join(p.capitalize() for p in word.split("-"))
        tokens.append(fold(unicodedata.normalize("NFC", word)))
    return tokens


def _aliases(parties: list[Party], config: Config | None) -> dict[str, frozenset[int]]:
    """Name form (lower-case, folded) → the parties it names.

    A first name shared by two parties names neither; a last name shared by
    every party bearing it is a family ("the Smiths" are a couple of prospects).
    """
    owners: dict[str, set[int]] = {}
    lasts: dict[str, set[int]] = {}
    for i, party in enumerate(parties):
        tokens = _name_tokens(party, config)
        forms = {" ".join(tokens)} if tokens else set()
        forms.update(tokens[:1] + tokens[-1:])
        if len(tokens) > 2:
            forms.add(f"{tokens[0]} {tokens[-1]}")
        for form in forms:
            owners.setdefault(form, set()).add(i)
        if len(tokens) > 1:
            lasts.setdefault(tokens[-1], set()).add(i)
    result: dict[str, frozenset[int]] = {}
    for form, who in owners.items():
        if len(who) == 1:
            result[form] = frozenset(who)
        elif lasts.get(form) == who:
            result[form] = result[form + "s"] = frozenset(who)
    return result


# -- sentences and subject candidates ------------------------------------------------
@dataclass
class _Cand:
    start: int
    end: int
    kind: str  # "name" or a PRONOUNS key
    who: frozenset[int] = frozenset()
    sentence: int = 0
    vocative: bool = False


def _prepare(text: str) -> str:
    """NFC text with header lines of forwards and quote marks blanked, one line per
    sentence boundary: single newlines become spaces (mail wraps lines), except after
    a short greeting line ("Hi Omar and Grace,")."""
    text = unicodedata.normalize("NFC", text[:MAX_CHARS])
    text = _HEADER_LINE_RE.sub("", text)
    text = _QUOTE_MARK_RE.sub("", text)
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        if i + 1 < len(lines):
            stripped = line.strip()
            nxt = lines[i + 1].strip()
            keep = not stripped or not nxt or (len(stripped) < 50 and stripped[-1] in ",:")
            out.append("\n" if keep else " ")
    return "".join(out)


def _sentences(folded: str) -> tuple[list[int], list[int]]:
    """Sentence start offsets, and each sentence's paragraph (blank-line separated)."""
    starts = [0, *(m.end() for m in _SENTENCE_END_RE.finditer(" " + folded))]
    starts = [0] + [s - 1 for s in starts[1:]]
    breaks = [m.start() for m in _PARAGRAPH_RE.finditer(folded)]
    return starts, [bisect_right(breaks, s) for s in starts]


def _name_candidates(folded: str, keys: set[str],
                     aliases: dict[str, frozenset[int]]) -> list[_Cand]:
    """Every mention of a party's name; the longest form wins ("Grace Liu", not "Grace")."""
    found = []
    caseless: str | None = None
    for form, who in aliases.items():
        if word_key(form.lower().split()[0].split("'")[0].split("-")[0]) not in keys:
            continue
        pieces = plain_form(form)
        if pieces is not None and caseless is None:
            caseless = caseless_key(folded)
        if pieces is not None and caseless is not None:
            spans = find_form(folded, caseless, form[0], pieces)
        else:
            spans = [m.span() for m in name_pattern(form).finditer(folded)]
        for start, end in spans:
            found.append(_Cand(start, end, "name", who))
    found.sort(key=lambda c: (c.start, -c.end))
    kept: list[_Cand] = []
    for cand in found:
        if not kept or cand.start >= kept[-1].end:
            kept.append(cand)
    return kept


def _pronoun_candidates(text: str, folded: str, found: list[tuple[int, int, int]],
                        starts: list[int]) -> list[_Cand]:
    cands = []
    for start, end, row in found:
        kind = PRONOUN_KINDS[row - len(CUES)]
        word = text[start:end]
        if kind == "one" and word.lower() == "el":
            continue  # "el" is the Spanish article; only "él" is "he"
        if kind == "sie" and word == "Sie":
            sentence_start = starts[bisect_right(starts, start) - 1]
            if not folded[sentence_start:start].strip(" \n\"'"):
                continue  # sentence-initial "Sie": she, they or you — unknown
            kind = "you"
        if kind == "self" and word == "I" and text[end:end + 1] == ".":
            continue  # an initial, not "I"
        if kind == "rel_de":  # ", die …": the pronoun, not the comma
            start, kind = end - len(word.lstrip(", \n")), "rel"
        cands.append(_Cand(start, end, kind))
    return cands


def _mark_vocatives(folded: str, names: list[_Cand], starts: list[int]) -> None:
    """Mark the names a sentence opens by addressing: "Grace, …", "Hi Ann and Bob,"."""
    by_start = {c.start: c for c in names}
    openers = set()
    for cand in names:  # the sentences that open with a name, or a greeting and a name
        s = starts[bisect_right(starts, cand.start) - 1]
        if cand.start - s < 30:
            openers.add(s)
    for s in sorted(openers):
        pos = GREETING_RE.match(folded, s)
        at = pos.end() if pos else s
        chain: list[_Cand] = []
        best: list[_Cand] = []
        while at in by_start:
            cand = by_start[at]
            chain.append(cand)
            if _VOCATIVE_END_RE.match(folded, cand.end):
                best = list(chain)
            sep = CONJUNCTION_RE.match(folded, cand.end)
            if not sep:
                break
            again = GREETING_RE.match(folded, sep.end())  # "Hallo Anna, hallo Jens,"
            at = again.end() if again else sep.end()
        for cand in best:
            cand.vocative = True


# -- attribution ----------------------------------------------------------------------
@dataclass
class _Evidence:
    provider: int = 0
    prospect: int = 0
    quotes: list[str] = field(default_factory=list)


def _first_of_group(cands: list[_Cand], idx: int, folded: str) -> int:
    """The first name coordinated with name ``idx`` ("Ann" in "Ann and Bob need")."""
    j = idx
    while j > 0:
        prev, cur = cands[j - 1], cands[j]
        if (prev.kind != "name" or prev.vocative or prev.sentence != cur.sentence
                or not CONJUNCTION_RE.fullmatch(folded, prev.end, cur.start)):
            break
        j -= 1
    return j


def _group(cands: list[_Cand], idx: int, folded: str) -> frozenset[int]:
    """The parties of name ``idx`` with those coordinated before it ("Ann and Bob")."""
    return frozenset().union(*(c.who for c in cands[_first_of_group(cands, idx, folded):idx + 1]))


def _resolve(cands: list[_Cand], idx: int, folded: str, addressee: frozenset[int],
             sentence_names: dict[int, list[int]], paragraphs: list[int]) -> frozenset[int] | None:
    """The parties candidate ``idx`` stands for; None when it is nobody or unknown."""
    cand = cands[idx]
    if cand.kind == "name":
        return _group(cands, idx, folded)
    if cand.kind in ("self", "nobody"):
        return None
    if cand.kind == "you":
        return addressee or None
    if cand.kind in ("rel", "that"):
        prev = cands[idx - 1] if idx else None
        if prev is not None and prev.kind == "name" and _COMMA_GAP_RE.fullmatch(
                folded[prev.end:cand.start]):
            return _group(cands, idx - 1, folded)
        return None
    # he / she / they: the only party named (not addressed) before it in this
    # sentence or else in the closest earlier sentence of the paragraph that names one.
    before = [j for j in sentence_names.get(cand.sentence, []) if j < idx]
    sentence = cand.sentence
    while not before and sentence > 0 and paragraphs[sentence - 1] == paragraphs[cand.sentence]:
        sentence -= 1
        before = [j for j in sentence_names.get(sentence, []) if not cands[j].vocative]
    groups = {_group(cands, j, folded) for j in before if not cands[j].vocative}
    groups = {g for g in groups if not any(g < other for other in groups)}  # "Ann" in "Ann and Bob"
    if len(groups) != 1:
        return None
    (group,) = groups
    if cand.kind == "one" and len(group) != 1:
        return None
    return group


class _Reading:
    """One text, read: its sentences, subject candidates and who is addressed."""

    def __init__(self, text: str, parties: list[Party], config: Config | None) -> None:
        self.text = _prepare(text)
        self.folded = folded = fold(self.text)
        self.starts, self.paragraphs = _sentences(folded)
        lower = folded.lower()
        if len(lower) != len(folded):  # a few characters lower-case to two
            lower = "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in folded)
        keys = text_keys(lower)
        names = _name_candidates(folded, keys, _aliases(parties, config))
        self.cues: list[tuple[int, int, int]] = []
        self.cands: list[_Cand] = []
        if not names:  # nothing to attribute a cue to: spare the rest
            return
        _mark_vocatives(folded, names, self.starts)
        found = INDEX.find(folded, lower, keys)
        self.cues = [hit for hit in found if hit[2] < len(CUES)]
        spans: list[list[int]] = []  # the cues' spans, merged where they overlap
        for start, end, _ in self.cues:
            if spans and start < spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        span_starts = [start for start, _ in spans]

        def in_cue(c: _Cand) -> bool:  # the "I" and "you" of "I told you about"
            i = bisect_right(span_starts, c.start) - 1
            return i >= 0 and c.start < spans[i][1]

        hits = [hit for hit in found if hit[2] >= len(CUES)]
        pronouns = [c for c in _pronoun_candidates(self.text, folded, hits, self.starts)
                    if not in_cue(c)]
        taken_by_names = {c.start for c in names}  # a party called "Elle" is no pronoun
        cands = sorted(names + [c for c in pronouns if c.start not in taken_by_names],
                       key=lambda c: c.start)
        self.cands = cands
        self.sentence_names: dict[int, list[int]] = {}
        for i, c in enumerate(cands):
            c.sentence = bisect_right(self.starts, c.start) - 1
            if c.kind == "name":
                self.sentence_names.setdefault(c.sentence, []).append(i)
        self.cand_starts = [c.start for c in cands]
        # "you": the party (or couple) addressed most recently before each candidate
        self.addressees: list[frozenset[int]] = []
        current: frozenset[int] = frozenset()
        for i, c in enumerate(cands):
            if c.kind == "name" and c.vocative:
                group, j = set(c.who), i
                while j > 0 and cands[j - 1].vocative and cands[j - 1].sentence == c.sentence:
                    j -= 1
                    group |= cands[j].who
                current = frozenset(group)
            self.addressees.append(current)

    def subject(self, cue: Cue, cs: int, ce: int) -> tuple[frozenset[int], int, int] | None:
        """The parties the cue at ``cs:ce`` is about, and the span of subject and cue."""
        cands, folded = self.cands, self.folded
        sentence = bisect_right(self.starts, cs) - 1
        if cue.after:  # "I recommend Omar"
            k = bisect_right(self.cand_starts, ce - 1)
            if (k >= len(cands) or cands[k].kind != "name" or cands[k].sentence != sentence
                    or not _AFTER_GAP_RE.fullmatch(folded[ce:cands[k].start])):
                return None
            return _group(cands, k, folded), cs, cands[k].end
        k = bisect_right(self.cand_starts, cs - 1) - 1
        if k >= 0 and cands[k].kind == "that" and THAT_TRANSPARENT_RE.search(
                folded, max(0, cands[k].start - 20), cands[k].start):
            k -= 1  # "told me that she needs": "that" is a conjunction here
        if k < 0 or cands[k].end > cs or cands[k].sentence != sentence:
            return None
        if cands[k].vocative and folded[cs] == ",":
            return None  # "Tom, the accountant I mentioned is Mei": Tom is addressed
        gap = _ASIDES_RE.sub(" ", folded[cands[k].end:cs])
        before = folded[max(0, cs - 12):cs]
        if (len(gap) > 100 or ";" in gap or ":" in gap or NEGATION_RE.search(gap)
                or NEGATED_NEXT_RE.search(gap)
                or (cue.noun and DETERMINER_BEFORE_RE.search(before))
                or (cue.verb and INFINITIVE_BEFORE_RE.search(before))):
            return None
        who = _resolve(cands, k, folded, self.addressees[k], self.sentence_names,
                       self.paragraphs)
        if not who:
            return None
        if cands[k].kind == "name":
            k = _first_of_group(cands, k, folded)
        return who, cands[k].start, ce


def _collect(text: str, config: Config | None,
             parties: list[Party]) -> tuple[list[_Evidence], set[int]]:
    """Each party's provider and prospect evidence from ``text``, and the parties
    the text names."""
    evidence = [_Evidence() for _ in parties]
    reading = _Reading(text, parties, config)
    taken = 0  # the end of the last cue used: a cue inside it is part of it
    for cs, ce, row in reading.cues:
        cue = CUES[row]
        if cs < taken or NEGATED_AFTER_RE.match(reading.folded, ce):
            continue
        found = reading.subject(cue, cs, ce)
        if found is None:
            continue
        who, start, end = found
        taken = ce
        snippet = " ".join(reading.text[start:end].split())
        quote = snippet if len(snippet) <= 60 else f"{snippet[:28]} … {snippet[-28:]}"
        for p in who:
            if cue.kind == "provider":
                evidence[p].provider += cue.weight
            else:
                evidence[p].prospect += cue.weight
            evidence[p].quotes.append(f"'{quote}'")
    return evidence, {p for c in reading.cands if c.kind == "name" for p in c.who}


# -- the decision ---------------------------------------------------------------------
def _names_list(names: list[str], joiner: str = "and") -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {joiner} {names[-1]}"


def _nothing_found(named: set[int], label: list[str]) -> str:
    """What the text gave when it gave no role: which parties it names, and what is missing."""
    if not named:
        return f"the text names {'neither' if len(label) == 2 else 'none of'} " \
               f"{_names_list(label, 'nor' if len(label) == 2 else 'and')}, so it cannot say who needs " \
               "what"
    names = [label[i] for i in sorted(named)]
    others = [label[i] for i in range(len(label)) if i not in named]
    missing = f" (and not {_names_list(others, 'or')})" if others else ""
    what = "what they need or offer" if len(names) > 1 else f"what {names[0]} needs or offers"
    return (f"the text names {_names_list(names)}{missing} but no role cues: nothing says {what} "
            "(such as '… is looking for …' or '… is the accountant I mentioned')")


def _label(party: Party, config: Config | None) -> str:
    tokens = _name_tokens(party, config)
    return tokens[0] if tokens else party.address


def assign_roles(text: str, parties: list[Party], config: Config | None = None) -> Roles:
    """Decide provider and prospects of an intro, or say why not.

    1. Text cues give each party a provider and a prospect score. Provider
       evidence and no prospect evidence makes a *provider candidate*; the
       reverse a *prospect candidate*; both makes the party *mixed*.
    2. Exactly one provider candidate → the provider; every other party is a
       prospect (a mixed one only if its prospect evidence weighs at least as
       much as its provider evidence).
    3. No provider candidate, some prospect candidates, and exactly one other
       party (no evidence, or provider evidence outweighing prospect evidence)
       → that party is the provider. Several others: if exactly one of them is a
       member and the rest have no evidence, the member (members are the
       group's businesses).
    4. No evidence at all: exactly one member → the provider, the rest
       prospects. Text evidence that a member needs something comes first.
    5. Anything else — two provider candidates, everyone in need, evidence
       both ways and nothing else to decide, two members or none and no cues —
       is unknown: provider None, prospects [], and the reason says why.
    """
    seen: set[str] = set()
    unique = []
    for party in parties:
        if party.address and party.address not in seen:
            seen.add(party.address)
            unique.append(party)
    parties = unique
    if len(parties) < 2:
        return Roles(None, [], f"roles unknown: {len(parties)} part"
                               f"{'y' if len(parties) == 1 else 'ies'}, an intro needs two")
    ev, named = _collect(text or "", config, parties)
    label = [_label(p, config) for p in parties]

    def says(i: int) -> str:
        return f"{label[i]}: {', '.join(ev[i].quotes[:2])}"

    def verdict(provider: int, how: str) -> Roles:
        prospects = [p.address for i, p in enumerate(parties) if i != provider]
        member = ("; " + label[provider] + " is a member"
                  if parties[provider].is_member and "member" not in how else "")
        return Roles(parties[provider].address, prospects, f"{how}{member}")

    def unknown(why: str) -> Roles:
        return Roles(None, [], f"roles unknown: {why}")

    everyone = range(len(parties))
    providers = [i for i in everyone if ev[i].provider and not ev[i].prospect]
    prospects = [i for i in everyone if ev[i].prospect and not ev[i].provider]
    mixed = [i for i in everyone if ev[i].provider and ev[i].prospect]
    silent = [i for i in everyone if not ev[i].provider and not ev[i].prospect]
    members = [i for i in everyone if parties[i].is_member]

    if len(providers) > 1:
        return unknown("more than one party reads as the provider ("
                       + "; ".join(says(i) for i in providers) + ")")
    if len(providers) == 1:
        (p,) = providers
        leaning = [i for i in mixed if ev[i].provider > ev[i].prospect]
        if leaning:
            return unknown(f"{says(p)} reads as the provider, but so does {says(leaning[0])}")
        needs = [says(i) for i in everyone if ev[i].prospect][:2]
        return verdict(p, f"text: {says(p)}" + (f"; {'; '.join(needs)}" if needs else ""))
    if prospects:
        others = [i for i in everyone if i not in prospects]
        need = "; ".join(says(i) for i in prospects[:2])
        if not others:
            return unknown(f"every party reads as a prospect ({need})")
        if len(others) == 1:
            (o,) = others
            if o in silent or ev[o].provider > ev[o].prospect:
                return verdict(o, f"text: {need}; {label[o]} is the only other party")
            return unknown(f"{need}; but {says(o)} reads both ways")
        other_members = [i for i in others if parties[i].is_member]
        if len(other_members) == 1 and all(i in silent for i in others):
            (o,) = other_members
            return verdict(o, f"text: {need}; {label[o]} is the only other member")
        return unknown(f"{need}; which of "
                       + ", ".join(label[i] for i in others) + " is the provider is not said")
    if mixed:
        return unknown("evidence both ways (" + "; ".join(says(i) for i in mixed) + ")")
    nothing = _nothing_found(named, label)
    if len(members) == 1:
        return verdict(members[0], f"{nothing}; {label[members[0]]} is the only member, "
                                   "taken as the provider")
    if members:
        return unknown(f"{nothing}; {len(members)} parties are members")
    return unknown(f"{nothing}; no party is a member")
