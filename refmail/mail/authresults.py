"""Is the From domain of a message authenticated? Read from ``Authentication-Results``.

refmail does not verify DKIM signatures or SPF records itself: that needs DNS
and the SMTP connection, which only the receiving mail server has. The
receiving server records what it found in an ``Authentication-Results`` header
(RFC 8601), and :func:`authenticated` reads that record — but only the record
of *our* server, named by its authserv-id in the config.

**Which headers are trusted.** Anyone can write an ``Authentication-Results``
header into the mail they send, naming any authserv-id. RFC 8601 §5 says a
reader must only trust headers carrying the authserv-id of its own server, and
that the border server must remove headers claiming that id from incoming mail
(§5 again; not every server does). Because a server adds its header at the top
(§2.1, as with trace headers), its own record comes before anything the sender
wrote. So:

- headers whose authserv-id is not the configured one are ignored, as are
  headers with no authserv-id at all (Microsoft 365 writes them so; they cannot
  be told apart from a forgery) and headers of an unknown version (§2.2);
- among the trusted headers, each method (``dmarc``, ``dkim``, ``spf``) is read
  only from the topmost header that reports it, so a forged header further down
  that repeats our authserv-id cannot add a ``pass`` to a method our server
  already reported. That narrows, but cannot replace, the server's own duty:
  for a method it never reports, a forged header repeating its id is believed.
  Check that the receiving server removes such headers (OpenDKIM does, for one).

**The policy** (``from_domain`` is the domain of the message's From address):

1. ``dmarc`` is decisive when our server reports it for this From domain
   (``header.from`` must name it): ``pass`` → authenticated, ``fail`` → not,
   whatever DKIM or SPF say (DMARC already weighed them, with the domain
   owner's alignment policy, RFC 7489 §3.1). A ``dmarc=pass`` that does not say
   which From domain it judged is not counted; a ``dmarc=fail`` counts anyway.
2. Otherwise (no DMARC result, or ``none``/``temperror``/``permerror``: the
   domain publishes no usable policy): authenticated when a ``dkim=pass`` has a
   signing domain (``header.d``, else the domain of ``header.i``) **aligned**
   with the From domain, or an ``spf=pass`` has an ``smtp.mailfrom`` domain
   aligned with it.
3. Aligned means: equal to the From domain, or a parent domain of it with at
   least two labels (``example.com`` vouches for ``mail.example.com``: whoever
   controls a domain's DNS controls its subdomains'). A subdomain signing for
   its parent is *not* accepted: telling ``team.example.com`` from
   ``someone.github.io`` needs the public suffix list, which DMARC's relaxed
   alignment uses and refmail does not ship. So this is narrower than DMARC's
   relaxed alignment, except for a key published at a public suffix itself
   (``co.uk``), which only that suffix's registry could do.

Everything here is pure text processing: header values in, a verdict out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MethodResult", "ResultsHeader", "authenticated", "parse_header"]

#: The only version RFC 8601 (and RFC 7601, 7001 before it) defines.
_KNOWN_VERSION = "1"
#: Characters that end an unquoted word (RFC 8601 §2.2 relies on RFC 2045
#: tokens; '=' ends a key but not a value — base64 in header.b= ends in '=').
_KEY_END = frozenset(' \t\r\n()";=')
_VALUE_END = frozenset(' \t\r\n()";')
#: Header values longer than this are not read: a real one is a few hundred bytes.
_MAX_HEADER = 16_384


@dataclass(frozen=True)
class MethodResult:
    """One ``method=result`` of a header with its properties (``header.d`` …)."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResultsHeader:
    """One parsed ``Authentication-Results`` header.

    ``authserv_id`` is None when the header does not start with one (then the
    header is never trusted); ``version`` is None when none was written.
    """

    authserv_id: str | None
    version: str | None
    results: tuple[MethodResult, ...]


# -- lexing ------------------------------------------------------------------------------------
def _skip_cfws(text: str, i: int) -> int:
    """Skip folding white space and (nested) comments (RFC 5322 §3.2.2)."""
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c == "(":
            depth = 0
            while i < n:
                c = text[i]
                if c == "\\":
                    i += 2
                    continue
                if c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                i += 1
        else:
            break
    return i


def _quoted(text: str, i: int) -> tuple[str, int]:
    """A quoted-string starting at ``text[i] == '"'``: its content, unescaped."""
    out: list[str] = []
    i += 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    return "".join(out), i  # unterminated: take what is there


def _word(text: str, i: int, stop: frozenset[str]) -> tuple[str, int]:
    if i < len(text) and text[i] == '"':
        return _quoted(text, i)
    start = i
    while i < len(text) and text[i] not in stop:
        i += 1
    return text[start:i], i


def _segments(text: str) -> list[list[tuple[str, str | None]]]:
    """The header split at ';' into segments of ``(key, value)`` items.

    Comments are dropped; ';' inside a quoted string or a comment does not
    split. An item without '=' (the authserv-id, the version, ``none``) has the
    value None. Keys are lower-cased, values kept as written.
    """
    segments: list[list[tuple[str, str | None]]] = [[]]
    i, n = 0, len(text)
    while True:
        i = _skip_cfws(text, i)
        if i >= n:
            break
        if text[i] == ";":
            segments.append([])
            i += 1
            continue
        key, j = _word(text, i, _KEY_END)
        if j == i:  # a stray '=' or ')' : step over it
            i += 1
            continue
        i = _skip_cfws(text, j)
        if i < n and text[i] == "=":
            i = _skip_cfws(text, i + 1)
            value, i = _word(text, i, _VALUE_END)
            segments[-1].append((key.lower(), value))
        else:
            segments[-1].append((key.lower(), None))
    return [s for s in segments if s]


# -- parsing -----------------------------------------------------------------------------------
def _method_result(items: list[tuple[str, str | None]]) -> MethodResult | None:
    """One resinfo (RFC 8601 §2.2): ``method[/version]=result [reason=…] ptype.prop=value…``."""
    method, result = items[0]
    if result is None:
        return None
    method = method.split("/", 1)[0].strip().lower()
    properties: dict[str, str] = {}
    for key, value in items[1:]:
        if value is None or "." not in key:
            continue  # reason=…, Microsoft's action=…, stray words
        properties.setdefault(key, value)
    return MethodResult(method=method, result=result.lower(), properties=properties)


def parse_header(value: str) -> ResultsHeader:
    """Parse one ``Authentication-Results`` value (without the field name).

    Never raises; a header that is not one yields no results.
    """
    segments = _segments(value[:_MAX_HEADER])
    if not segments:
        return ResultsHeader(None, None, ())
    first = segments[0]
    authserv_id: str | None = None
    version: str | None = None
    if first[0][1] is None:
        # authserv-id [CFWS authres-version]; the first segment carries nothing else.
        authserv_id = first[0][0]
        if len(first) > 1 and first[1][1] is None and first[1][0].isdigit():
            version = first[1][0]
        rest = segments[1:]
    else:
        rest = segments  # no authserv-id: the header starts with a result
    results = tuple(r for r in (_method_result(s) for s in rest) if r is not None)
    return ResultsHeader(authserv_id, version, results)


# -- the policy --------------------------------------------------------------------------------
def _domain(value: str) -> str:
    """The domain of ``user@domain``, ``@domain`` or ``domain``, lower-case, no final dot."""
    return value.rpartition("@")[2].strip().strip("<>").rstrip(".").lower()


def _aligned(domain: str, from_domain: str) -> bool:
    """``domain`` is the From domain or one of its parents (see the module docstring)."""
    if not domain or not from_domain:
        return False
    if domain == from_domain:
        return True
    return "." in domain and from_domain.endswith("." + domain)


def _trusted_results(
    headers: list[str], authserv_id: str
) -> tuple[dict[str, list[MethodResult]], int, int]:
    """Results by method, each from the topmost trusted header reporting it;
    how many headers were trusted, and how many ignored as not ours."""
    wanted = authserv_id.strip().lower()
    by_method: dict[str, list[MethodResult]] = {}
    trusted = ignored = 0
    for value in headers:
        parsed = parse_header(value)
        if (
            not wanted
            or parsed.authserv_id is None
            or parsed.authserv_id.lower() != wanted
            or (parsed.version is not None and parsed.version != _KNOWN_VERSION)
        ):
            ignored += 1
            continue
        trusted += 1
        here: dict[str, list[MethodResult]] = {}
        for result in parsed.results:
            here.setdefault(result.method.lower(), []).append(result)
        for method, results in here.items():
            by_method.setdefault(method, results)  # a higher header already reported it: keep that
    return by_method, trusted, ignored


def authenticated(headers: list[str], authserv_id: str, from_domain: str) -> tuple[bool, str]:
    """Whether the receiving server authenticated ``from_domain``; and a short reason.

    ``headers`` are the values of every ``Authentication-Results`` header of
    the message, top first (the order the server wrote them); ``authserv_id``
    is the receiving server's id from the config. See the module docstring for
    the exact policy.
    """
    domain = _domain(from_domain)
    if not domain:
        return False, "no From domain to authenticate"
    by_method, trusted, ignored = _trusted_results(headers, authserv_id)
    if not trusted:
        others = f" ({ignored} from other servers ignored)" if ignored else ""
        return False, f"no Authentication-Results from {authserv_id or '(no authserv-id set)'}{others}"

    for result in by_method.get("dmarc", []):
        judged = _domain(result.properties.get("header.from", ""))
        if result.result == "pass" and judged == domain:
            return True, f"dmarc=pass for {domain}"
        # A fail is decisive even when the header does not say which domain it judged.
        if result.result == "fail" and judged in ("", domain):
            return False, f"dmarc=fail for {domain}"

    for result in by_method.get("dkim", []):
        if result.result != "pass":
            continue
        signer = _domain(result.properties.get("header.d", "") or result.properties.get("header.i", ""))
        if _aligned(signer, domain):
            return True, f"dkim=pass by {signer}, aligned with {domain}"
    for result in by_method.get("spf", []):
        if result.result != "pass":
            continue
        mailfrom = _domain(result.properties.get("smtp.mailfrom", ""))
        if _aligned(mailfrom, domain):
            return True, f"spf=pass for {mailfrom}, aligned with {domain}"

    seen = "; ".join(
        f"{method}={','.join(sorted({r.result for r in results}))}"
        for method, results in sorted(by_method.items())
        if method in ("dmarc", "dkim", "spf")
    )
    return False, f"no aligned pass for {domain} ({seen or 'no dmarc, dkim or spf result'})"
