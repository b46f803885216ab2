"""How Gmail and Outlook messages look on disk: headers, MIME structure, HTML.

Used by ``bench/corpus.py``; separate so the corpus module stays about *what*
an inbox holds and this one about the bytes. Everything random comes from the
``random.Random`` passed in, so the same draft and generator give the same bytes.
"""

from __future__ import annotations

import base64
import quopri
import random
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime

__all__ = ["DISCLAIMER", "TRACKER", "Draft", "Person", "b64", "encoded", "mailbox", "render"]

TRACKER = "refs@harbornet.example"


DISCLAIMER = (
    "CONFIDENTIALITY NOTICE: This e-mail message, including any attachments, is for the sole use of the "
    "intended recipient(s) and may contain confidential and privileged information. Any unauthorized "
    "review, use, disclosure or distribution is prohibited. If you are not the intended recipient, "
    "please contact the sender by reply e-mail and destroy all copies of the original message."
)
OUTLOOK_STYLE = (
    '<style><!--\n/* Font Definitions */\n@font-face\n\t{font-family:"Cambria Math";\n\tpanose-1:2 4 5 3 5 4 '
    '6 3 2 4;}\n@font-face\n\t{font-family:Calibri;\n\tpanose-1:2 15 5 2 2 2 4 3 2 4;}\n/* Style Definitions'
    ' */\np.MsoNormal, li.MsoNormal, div.MsoNormal\n\t{margin:0in;\n\tfont-size:11.0pt;\n\tfont-family:"Cal'
    'ibri",sans-serif;}\na:link, span.MsoHyperlink\n\t{mso-style-priority:99;\n\tcolor:#0563C1;\n\ttext-deco'
    'ration:underline;}\nspan.EmailStyle17\n\t{mso-style-type:personal-compose;\n\tfont-family:"Calibri",sa'
    'ns-serif;\n\tcolor:windowtext;}\n.MsoChpDefault\n\t{mso-style-type:export-only;\n\tfont-family:"Calibri'
    '",sans-serif;}\n@page WordSection1\n\t{size:8.5in 11.0in;\n\tmargin:1.0in 1.0in 1.0in 1.0in;}\ndiv.Word'
    "Section1\n\t{page:WordSection1;}\n--></style>"
)


@dataclass(frozen=True)
class Person:
    name: str
    email: str


def encoded(name: str) -> str:
    """RFC 2047 B-encoded word, as Gmail and Outlook write non-ASCII display names."""
    return "=?UTF-8?B?" + base64.b64encode(name.encode()).decode() + "?="


def mailbox(person: Person) -> str:
    if not person.name:
        return person.email
    if not person.name.isascii():
        return f"{encoded(person.name)} <{person.email}>"
    if any(c in person.name for c in ',.;:@"()'):
        return f'"{person.name}" <{person.email}>'
    return f"{person.name} <{person.email}>"


def b64(rng: random.Random, n: int) -> str:
    return base64.b64encode(rng.randbytes(n)).decode()[: int(n * 4 / 3)]


def fold(prefix: str, value: str, width: int = 72) -> str:
    """A long opaque header value (signatures) folded as senders do (RFC 5322 §2.2.3)."""
    lines, rest = [], value
    first = max(width - len(prefix.rpartition("\n")[2]), 8)
    lines.append(prefix + rest[:first])
    rest = rest[first:]
    while rest:
        lines.append("        " + rest[: width - 8])
        rest = rest[width - 8 :]
    return "\n".join(lines)


def qp(text: str) -> str:
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


@dataclass
class Draft:
    sender: Person
    to: list[Person]
    cc: list[Person]
    subject: str
    plain: str
    html_paragraphs: list[str]
    signature: list[str]
    date: datetime
    message_id: str
    client: str  # gmail | outlook
    headers: list[tuple[str, str]] = field(default_factory=list)
    in_reply_to: str | None = None
    disclaimer: bool = False
    delivered_to: str = TRACKER


def gmail_html(d: Draft) -> str:
    body = "".join(f"<div>{p}</div><div><br></div>" for p in d.html_paragraphs)
    sig = "<br>".join(d.signature)
    return (
        f'<div dir="ltr">{body}<div>-- <br><div dir="ltr" class="gmail_signature" '
        f'data-smartmail="gmail_signature"><div dir="ltr"><div>{sig}</div></div></div></div></div>\n'
    )


def outlook_html(d: Draft) -> str:
    paras = "".join(
        f'<p class="MsoNormal">{p}<o:p></o:p></p>\n<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'
        for p in d.html_paragraphs
    )
    sig = "".join(f'<p class="MsoNormal"><span style="font-size:9.0pt;color:#595959">{s}</span></p>\n'
                  for s in d.signature)
    disclaimer = (
        f'<p class="MsoNormal"><span style="font-size:7.5pt;color:gray">{DISCLAIMER}</span></p>\n'
        if d.disclaimer else ""
    )
    return (
        '<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
        'xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/'
        '12/omml" xmlns="http://www.w3.org/TR/REC-html40">\n<head>\n<meta http-equiv="Content-Type" '
        'content="text/html; charset=utf-8">\n<meta name="Generator" content="Microsoft Word 15 (filtered '
        f'medium)">\n{OUTLOOK_STYLE}\n</head>\n<body lang="EN-US" link="#0563C1" vlink="#954F72" '
        f'style="word-wrap:break-word">\n<div class="WordSection1">\n{paras}{sig}{disclaimer}</div>\n'
        "</body>\n</html>\n"
    )


def render(d: Draft, rng: random.Random, *, stored: bool = True) -> bytes:
    """The draft as the bytes Dovecot would store after LMTP delivery (LF line ends).

    ``stored=False``: as the sender's provider hands it to the group's MX, without
    the headers the final delivery adds (``Return-Path``, ``Delivered-To``, LMTP's
    ``Received``) — for sending over SMTP.
    """
    date = format_datetime(d.date)
    sender_domain = d.sender.email.rpartition("@")[2]
    h: list[str] = [
        f"Return-Path: <{d.sender.email}>",
        f"Delivered-To: {d.delivered_to}",
        "Received: from mx.harbornet.example\n\tby mail.harbornet.example with LMTP\n\t"
        f"id {b64(rng, 15)}\n\t(envelope-from <{d.sender.email}>)\n\tfor <{d.delivered_to}>; {date}",
    ] if stored else []
    plain = d.plain + "\n\n-- \n" + "\n".join(d.signature) + "\n"
    if d.disclaimer:
        plain += "\n" + DISCLAIMER + "\n"
    if d.client == "gmail":
        ip = f"209.85.{rng.randint(128, 223)}.{rng.randint(1, 254)}"
        host = f"mail-{rng.choice('ewlsyj')}{rng.choice('fx')}{rng.randint(1, 99)}-f{rng.randint(41, 199)}"
        ts = int(d.date.timestamp())
        h += [
            f"Received: from {host}.google.com ({host}.google.com [{ip}])\n\tby mx.harbornet.example "
            f"(Postfix) with ESMTPS id {rng.randbytes(5).hex().upper()}\n\tfor <{d.delivered_to}>; {date}",
            f"Received: by {host}.google.com with SMTP id {rng.randbytes(10).hex()[:18]}\n"
            f"        for <{d.delivered_to}>; {date}",
            fold("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\n        "
                  f"d={sender_domain}; s=google; t={ts}; x={ts + 604800}; darn=harbornet.example;\n"
                  "        h=cc:to:subject:message-id:date:from:mime-version:from:to:cc:subject\n"
                  "         :date:message-id:reply-to;\n        "
                  f"bh={b64(rng, 32)}=;\n        b=", b64(rng, 256)),
            fold("X-Google-DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\n        d=1e100.net;"
                  f" s=20230601; t={ts}; x={ts + 604800};\n        bh={b64(rng, 32)}=;\n        b=",
                  b64(rng, 256)),
            fold("X-Gm-Message-State: ", b64(rng, 80)),
            fold("X-Google-Smtp-Source: ", b64(rng, 60)),
            f"X-Received: by 2002:a17:906:{rng.randbytes(2).hex()}:b0:a9a:{rng.randbytes(2).hex()} with SMTP "
            f"id {rng.randbytes(8).hex()}-{rng.randbytes(2).hex()}.{rng.randint(10, 99)};\n        {date}",
            "MIME-Version: 1.0",
            f"From: {mailbox(d.sender)}",
            f"Date: {date}",
            f"Message-ID: {d.message_id}",
        ]
        if d.in_reply_to:
            h += [f"In-Reply-To: {d.in_reply_to}", f"References: {d.in_reply_to}"]
        h.append(f"Subject: {d.subject}")
        if d.to:
            h.append("To: " + ", \n\t".join(mailbox(p) for p in d.to))
        if d.cc:
            h.append("Cc: " + ", \n\t".join(mailbox(p) for p in d.cc))
        h += [f"{k}: {v}" for k, v in d.headers]
        boundary = "0000000000" + rng.randbytes(9).hex()
        html = gmail_html(d)
        plain_part = (
            'Content-Type: text/plain; charset="UTF-8"\n\n' + plain
            if plain.isascii() and max(len(x) for x in plain.splitlines()) < 78
            else 'Content-Type: text/plain; charset="UTF-8"\nContent-Transfer-Encoding: quoted-printable\n\n'
            + qp(plain)
        )
        html_part = (
            'Content-Type: text/html; charset="UTF-8"\nContent-Transfer-Encoding: quoted-printable\n\n'
            + qp(html)
        )
    else:
        ip = f"2603:10b6:{rng.randbytes(2).hex()}:{rng.randint(1, 99)}::{rng.randint(10, 99)}"
        server = f"SN{rng.randint(4, 7)}PR{rng.randint(10, 19):02d}MB{rng.randint(1000, 9999)}"
        h += [
            f"Received: from {server}.namprd{rng.randint(10, 19)}.prod.outlook.com ({ip}) by\n "
            f"{server}.namprd{rng.randint(10, 19)}.prod.outlook.com ({ip}) with Microsoft SMTP\n Server "
            "(version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id\n 15.20.7452.28; " + date,
            fold("ARC-Seal: i=1; a=rsa-sha256; s=arcselector9901; d=microsoft.com; cv=none;\n b=",
                  b64(rng, 256)),
            fold("ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; d=microsoft.com;\n "
                  "s=arcselector9901;\n h=From:Date:Subject:Message-ID:Content-Type:MIME-Version;\n b=",
                  b64(rng, 256)),
            f"Authentication-Results: spf=pass (sender IP is {ip})\n smtp.mailfrom={sender_domain}; "
            f"dkim=pass (signature was verified)\n header.d={sender_domain};dmarc=pass action=none\n "
            f"header.from={sender_domain};",
            f"From: {mailbox(d.sender)}",
        ]
        if d.to:
            h.append("To: " + ",\n\t".join(mailbox(p) for p in d.to))
        if d.cc:
            h.append("CC: " + ",\n\t".join(mailbox(p) for p in d.cc))
        h += [
            f"Subject: {d.subject}",
            f"Thread-Topic: {d.subject.removeprefix('Re: ').removeprefix('RE: ')}",
            f"Thread-Index: {b64(rng, 22)}==",
            f"Date: {date}",
            f"Message-ID: {d.message_id}",
        ]
        if d.in_reply_to:
            h += [f"References: {d.in_reply_to}", f"In-Reply-To: {d.in_reply_to}"]
        h += [f"{k}: {v}" for k, v in d.headers]
        h += [
            "Accept-Language: en-US",
            "Content-Language: en-US",
            "X-MS-Has-Attach:",
            "X-MS-TNEF-Correlator:",
            "x-ms-publictraffictype: Email",
            f"x-ms-traffictypediagnostic: {server}:EE_|{server}:EE_",
            f"x-ms-office365-filtering-correlation-id: {rng.randbytes(16).hex()}",
            "x-microsoft-antispam: BCL:0;ARA:13230040|1800799024|366016|376014;",
        ]
        boundary = f"_000_{server}{rng.randbytes(12).hex().upper()}namp_"
        html = outlook_html(d)
        plain_part = (
            'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: quoted-printable\n\n'
            + qp(plain)
        )
        html_part = (
            'Content-Type: text/html; charset="utf-8"\nContent-Transfer-Encoding: quoted-printable\n\n'
            + qp(html)
        )
    h.append(f'Content-Type: multipart/alternative;\n\tboundary="{boundary}"')
    if d.client == "outlook":
        h.append("MIME-Version: 1.0")
    text = (
        "\n".join(h) + "\n\n"
        + f"--{boundary}\n{plain_part.rstrip()}\n\n--{boundary}\n{html_part.rstrip()}\n\n--{boundary}--\n"
    )
    return text.encode("utf-8")
