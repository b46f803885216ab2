"""Real mail servers for tests: a private Dovecot (IMAP + LMTP) and an SMTP relay.

Why real servers: refmail's IMAP code must cope with what real servers do —
UIDVALIDITY changes, ``N:*`` returning the highest UID, IDLE notifications that
arrive a few hundred milliseconds late, connections dropped on restart. A fake
would only confirm our own assumptions. Dovecot 2.3 starts in well under a
second, so every test can afford one.

Nothing here depends on pytest; ``tests/conftest.py`` wraps these classes in
fixtures. Usage outside pytest::

    from mailservers import Dovecot, SmtpServer

    with Dovecot(users={"refs": "refs-secret"}) as dovecot, SmtpServer(dovecot) as smtp:
        import smtplib
        with smtplib.SMTP(smtp.host, smtp.port) as client:
            client.sendmail("betty@b.example", ["refs+abc@group.example"], raw_bytes)
        # Delivered synchronously: already visible over IMAP at 127.0.0.1:dovecot.port
        # as user "refs", with "Delivered-To: refs+abc@group.example" added by LMTP.
        assert smtp.messages[-1].rcpt_tos == ("refs+abc@group.example",)

Routing: the SMTP server delivers a recipient to the Dovecot user named by its
local part before any ``+`` (the domain is ignored), so ``refs+abc@group.example``
lands in user ``refs``. Recipients with no such user (``carl@client.example``)
are accepted and only recorded in ``SmtpServer.messages``; a test that wants to
read Carl's mail over IMAP calls ``dovecot.add_user("carl", "pw")`` first.

See /work/shared/dovecot-notes.md for why the configuration looks as it does
(standalone config, numeric uid as root, short socket paths, imaps disabled).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

__all__ = [
    "Accepted",
    "Dovecot",
    "DovecotUnavailable",
    "MailEnv",
    "SharedDovecot",
    "SmtpServer",
    "free_port",
]

LOOPBACK = "127.0.0.1"
MAIL_UID = 5000  # Dovecot refuses mail access as uid 0; any unused uid works.
_USER_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_INSTALL_HINT = (
    "run `make test`, which installs the Debian packages dovecot-imapd and dovecot-lmtpd"
)


class DovecotUnavailable(RuntimeError):
    """Dovecot is missing, has an unsupported version, or would not start."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _dovecot_binary() -> str:
    found = shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)),
        None,
    )
    if not found:
        raise DovecotUnavailable(f"Dovecot is not installed; {_INSTALL_HINT}")
    return found


def dovecot_version(binary: str | None = None) -> str:
    """``dovecot --version``, e.g. ``"2.3.19.1 (9b53102964)"``; fails unless it is 2.3.x.

    2.4 changed the configuration format, so a config written for 2.3 would be
    refused with a confusing error; saying so up front saves the reader time.
    """
    binary = binary or _dovecot_binary()
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    version = out.stdout.strip()
    if out.returncode != 0 or not re.match(r"^2\.3\.", version):
        raise DovecotUnavailable(
            f"Dovecot 2.3.x is required, {binary} --version says {version or out.stderr.strip()!r}; "
            f"{_INSTALL_HINT}"
        )
    return version


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _descendants(pid: int) -> list[int]:
    """PIDs of every process below ``pid``: Dovecot renames its processes, so
    the parent/child links in /proc are the only reliable way to find them."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Dovecot:
    """A private Dovecot 2.3 on 127.0.0.1: IMAP on a free port, LMTP on a unix socket.

    Everything lives in one short ``mkdtemp`` directory under /tmp (socket paths
    are limited to 107 bytes). Mail is stored as Maildir under
    ``DIR/home/USER/Maildir``. ``stop()`` removes the directory; ``restart()``
    and ``change_uidvalidity()`` keep it.

    ``tls=True`` also creates a self-signed certificate for 127.0.0.1
    (``cert_file``), enables STARTTLS on ``port`` and implicit TLS on
    ``tls_port``.

    ``oauth2=URL`` adds Dovecot's ``oauth2`` passdb beside the password one:
    XOAUTH2 and OAUTHBEARER logins whose token Dovecot checks by RFC 7662
    introspection at URL (``tests/tokenserver.py``), for the users of the
    passwd-file; LOGIN and PLAIN keep working with the passwords. With the
    endpoint down Dovecot answers ``NO [UNAVAILABLE]``.
    """

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        *,
        tls: bool = False,
        startup_timeout: float = 15.0,
        oauth2: str | None = None,
    ) -> None:
        self._binary = _dovecot_binary()
        self.oauth2 = oauth2
        self.version = dovecot_version(self._binary)
        self.host = LOOPBACK
        self.port = free_port()
        self.tls = tls
        self.tls_port: int | None = free_port() if tls else None
        self.startup_timeout = startup_timeout
        self.dir = Path(tempfile.mkdtemp(prefix="rmdc-", dir="/tmp"))
        # The auth process (user "dovecot") and the mail processes (uid 5000)
        # must traverse this directory; mkdtemp makes it 0700.
        self.dir.chmod(0o755)
        self.cert_file: Path | None = None
        if os.geteuid() == 0:
            self.uid, self.gid = MAIL_UID, MAIL_UID
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
        self._users: dict[str, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        (self.dir / "home").mkdir(mode=0o755)
        for name, password in (users or {}).items():
            self.add_user(name, password)
        if tls:
            self._make_certificate()
        atexit.register(self._atexit)

    # -- paths ------------------------------------------------------------
    @property
    def base_dir(self) -> Path:
        return self.dir / "run"

    @property
    def lmtp_socket(self) -> Path:
        return self.base_dir / "lmtp"

    @property
    def log_file(self) -> Path:
        return self.dir / "dovecot.log"

    @property
    def config_file(self) -> Path:
        return self.dir / "dovecot.conf"

    def home(self, user: str) -> Path:
        return self.dir / "home" / user

    def maildir(self, user: str) -> Path:
        """The user's Maildir (INBOX is its root; other folders are ``.Name``)."""
        return self.home(user) / "Maildir"

    @property
    def pid(self) -> int | None:
        """The master's PID while running (the one process :meth:`stop` signals)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def users(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._users)

    def password(self, user: str) -> str:
        with self._lock:
            return self._users[user]

    # -- users --------------------------------------------------------------
    def add_user(self, name: str, password: str) -> None:
        """Create (or change the password of) a user; works while running.

        The passwd-file is replaced atomically and Dovecot re-reads it when its
        mtime changes, so no reload is needed.
        """
        if not _USER_RE.match(name):
            raise ValueError(f"{name!r}: use lower-case letters, digits, '.', '_' or '-'")
        if ":" in password or "\n" in password:
            raise ValueError("a password cannot contain ':' or a newline (passwd-file format)")
        home = self.home(name)
        home.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(home, self.uid, self.gid)
        with self._lock:
            known = name in self._users
            self._users[name] = password
            lines = [
                f"{user}:{{PLAIN}}{secret}:{self.uid}:{self.gid}::{self.home(user)}::\n"
                for user, secret in sorted(self._users.items())
            ]
            tmp = self.dir / "passwd.tmp"
            tmp.write_text("".join(lines))
            tmp.chmod(0o644)  # read by the auth process, which runs as "dovecot"
            tmp.replace(self.dir / "passwd")
        if self.running and not known:
            self._wait_for_login(name)

    def _wait_for_login(self, user: str, timeout: float = 5.0) -> None:
        """Dovecot checks the passwd-file for changes at most once a second;
        wait until the new user can log in so LMTP delivery to it works."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.imap(user, folder=None):
                    return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    # -- life cycle ---------------------------------------------------------
    def start(self) -> Dovecot:
        """Start the master in the foreground (``-F``) and wait until IMAP and LMTP answer."""
        if self.running:
            return self
        self._write_config()
        stderr = open(self.dir / "stderr.log", "ab")  # noqa: SIM115 - owned by the process
        try:
            self._proc = subprocess.Popen(
                [self._binary, "-F", "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,  # a Ctrl-C in the terminal must not kill it half-way
            )
        finally:
            stderr.close()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if self.lmtp_socket.exists() and self._accepts(self.port):
                return self
            time.sleep(0.02)
        self.halt()
        raise DovecotUnavailable(
            f"Dovecot did not start within {self.startup_timeout:.0f}s "
            f"(port {self.port}, dir {self.dir}); {_INSTALL_HINT} if it is missing.\n"
            f"{self._diagnostics()}"
        )

    def stop(self) -> None:
        """Stop exactly the master this object started, wait for it, delete its files."""
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)

    def restart(self) -> None:
        """Stop and start again on the same port with the same mail."""
        self.halt()
        self.start()

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _atexit(self) -> None:
        if self.running:
            self.stop()

    def halt(self) -> None:
        """Stop the server but keep its files: ``start()`` brings it back with the same mail.

        SIGTERM to the master and to every process it had forked (what
        ``shutdown_clients = yes`` does to connected clients), then wait for all
        of them; SIGKILL whatever is left after a few seconds.
        """
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        if proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        # The master leaves imap processes with connected clients (and the
        # log and stats processes serving them) running for ~10 s after it
        # exits, and waits ~5 s for a login process still talking to a
        # client; a real shutdown disconnects clients at once, so end them
        # too — by PID, only processes this master forked (and re-checked
        # while it runs, as it may fork more).
        signalled: set[int] = set()
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            for pid in _descendants(proc.pid):
                if pid not in signalled:
                    signalled.add(pid)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.01)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        deadline = time.monotonic() + 5
        while any(_pid_alive(p) for p in signalled) and time.monotonic() < deadline:
            time.sleep(0.01)
        for pid in signalled:
            if _pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def processes(self) -> list[int]:
        """The master's PID and all its descendants (empty when stopped)."""
        pid = self.pid
        return [pid, *_descendants(pid)] if pid else []

    def idle_sessions(self, user: str) -> int:
        """How many of ``user``'s IMAP connections are in IDLE right now.

        Read from the process titles (``verbose_proctitle``: one imap process
        per connection, titled ``imap [refs 127.0.0.1 IDLE]`` while idling), so
        a test can stop the server exactly while a client idles.
        """
        found = 0
        for pid in self.processes():
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "/imap [" in title and f"[{user} " in title and title.rstrip().endswith("IDLE]"):
                found += 1
        return found

    @staticmethod
    def _accepts(port: int) -> bool:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return True
        except OSError:
            return False

    def _diagnostics(self) -> str:
        parts = []
        for path in (self.dir / "stderr.log", self.log_file):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace").strip()
                if text:
                    parts.append(f"--- {path.name} ---\n" + "\n".join(text.splitlines()[-20:]))
        return "\n".join(parts)

    def log_text(self) -> str:
        """Dovecot's log so far (for assertion messages)."""
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    # -- configuration ------------------------------------------------------
    def _write_config(self) -> None:
        internal = ""
        if os.geteuid() != 0:
            import grp
            import pwd

            user = pwd.getpwuid(os.getuid()).pw_name
            group = grp.getgrgid(os.getgid()).gr_name
            internal = (
                f"default_internal_user = {user}\ndefault_login_user = {user}\n"
                f"default_internal_group = {group}\n"
            )
        tls = "ssl = no\n"
        if self.tls and self.cert_file is not None:
            tls = (
                "ssl = yes\n"
                f"ssl_cert = <{self.cert_file}\nssl_key = <{self.dir / 'key.pem'}\n"
            )
            if Path("/usr/share/dovecot/dh.pem").exists():
                tls += "ssl_dh = </usr/share/dovecot/dh.pem\n"
        imaps_port = self.tls_port or 0
        passwd = self.dir / "passwd"
        mechanisms, oauth2_passdb, password_mechanisms = "plain login", "", ""
        if self.oauth2:
            from tokenserver import INTROSPECTION_CLIENT

            # Dovecot 2.3 db-oauth2: introspection by POST; the username attribute
            # must equal the XOAUTH2 user= (lower-cased), else the login is refused.
            conf = self.dir / "dovecot-oauth2.conf.ext"
            conf.write_text(
                "introspection_mode = post\n"
                f"introspection_url = {self.oauth2}\n"
                f"client_id = {INTROSPECTION_CLIENT[0]}\nclient_secret = {INTROSPECTION_CLIENT[1]}\n"
                "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
                "timeout_msecs = 5000\n"
            )
            mechanisms = "plain login xoauth2 oauthbearer"
            password_mechanisms = "  mechanisms = plain login\n"
            oauth2_passdb = (
                "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
                f"  args = {conf}\n}}\n"
            )
        self.config_file.write_text(
            f"""# Written by tests/mailservers.py; standalone, nothing from /etc/dovecot.
instance_name = refmail-test-{self.port}
base_dir = {self.base_dir}
state_dir = {self.dir / "state"}
log_path = {self.log_file}
{internal}protocols = imap lmtp
listen = {LOOPBACK}
{tls}disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
# Wrong passwords are answered at once instead of after ~2 s: keeps tests fast.
auth_failure_delay = 0
first_valid_uid = {min(self.uid, 500)}
mail_location = maildir:~/Maildir
mail_max_userip_connections = 500
# Process titles show each connection's user and command (idle_sessions()).
verbose_proctitle = yes
# LMTP looks up refs+tag@domain as user "refs" (username_format=%n drops the domain).
recipient_delimiter = +
namespace inbox {{
  inbox = yes
}}
passdb {{
  driver = passwd-file
{password_mechanisms}  args = scheme=PLAIN username_format=%n {passwd}
}}
{oauth2_passdb}userdb {{
  driver = passwd-file
  args = username_format=%n {passwd}
}}
service imap-login {{
  inet_listener imap {{
    address = {LOOPBACK}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {LOOPBACK}
    port = {imaps_port}
  }}
}}
# No auth penalty: a test of a wrong password must not slow down later logins
# from 127.0.0.1 (Dovecot's documented way to switch it off).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
"""
        )

    def _make_certificate(self) -> None:
        """A self-signed certificate valid for 127.0.0.1 and localhost."""
        openssl = shutil.which("openssl")
        if not openssl:
            raise DovecotUnavailable("tls=True needs the openssl command line tool")
        cert, key = self.dir / "cert.pem", self.dir / "key.pem"
        subprocess.run(
            [
                openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout", str(key), "-out", str(cert),
            ],
            check=True,
            capture_output=True,
        )
        key.chmod(0o600)
        self.cert_file = cert

    # -- mail -------------------------------------------------------------------
    def deliver(
        self,
        user: str,
        raw: bytes,
        *,
        mail_from: str = "sender@outside.example",
        rcpt: str | None = None,
    ) -> None:
        """Deliver ``raw`` to ``user``'s INBOX through Dovecot's LMTP.

        ``rcpt`` is the envelope recipient written into ``Delivered-To``
        (default: the bare user name); its local part before ``+`` must be
        ``user``. Returns once Dovecot has stored and indexed the message.
        """
        rcpt = rcpt or user
        if _local_user(rcpt) != user:
            raise ValueError(f"{rcpt!r} does not route to user {user!r}")
        if user not in self.users:
            raise ValueError(f"no Dovecot user {user!r}; add_user() first")
        with smtplib.LMTP(str(self.lmtp_socket)) as lmtp:
            lmtp.sendmail(mail_from, [rcpt], raw)

    @contextlib.contextmanager
    def imap(self, user: str, folder: str | None = "INBOX") -> Iterator[IMAPClient]:
        """A logged-in imapclient connection for assertions (folder selected read-only)."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        try:
            client.login(user, self.password(user))
            if folder:
                client.select_folder(folder, readonly=True)
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def messages(self, user: str, folder: str = "INBOX") -> dict[int, bytes]:
        """UID → raw message for everything in ``folder`` (peeking: flags stay)."""
        with self.imap(user, folder) as client:
            uids = client.search("ALL")
            data = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            return {uid: data[uid][b"BODY[]"] for uid in sorted(data)}

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        with self.imap(user, folder=None) as client:
            return int(client.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def empty(self, user: str) -> None:
        """Expunge every message in INBOX and delete every other folder."""
        with self.imap(user, folder=None) as client:
            for _flags, _delim, name in client.list_folders():
                if name != "INBOX":
                    client.delete_folder(name)
            client.select_folder("INBOX")
            uids = client.search("ALL")
            if uids:
                client.delete_messages(uids)
                client.expunge()

    def change_uidvalidity(self, user: str) -> tuple[int, int]:
        """Make Dovecot assign a new UIDVALIDITY to ``user``'s INBOX; returns (old, new).

        Deleting ``dovecot-uidlist`` and the index files is what happens when a
        server is migrated or its indexes are lost: the messages stay, every UID
        is reassigned (RFC 3501 §2.3.1.1). ``dovecot-uidvalidity`` is kept so the
        new value is larger even within the same second.
        """
        old = self.uidvalidity(user)
        self.halt()
        root = self.maildir(user)
        for path in root.iterdir():
            if path.name == "dovecot-uidlist" or path.name.startswith(
                ("dovecot.index", "dovecot.list.index")
            ):
                path.unlink()
        self.start()
        new = self.uidvalidity(user)
        if new == old:
            raise RuntimeError(f"UIDVALIDITY of {user}'s INBOX did not change (still {old})")
        return old, new


def _local_user(address: str) -> str:
    """``"Refs+abc@group.example"`` → ``"refs"``: the Dovecot user an address routes to."""
    address = address.strip().strip("<>")
    local = address.rpartition("@")[0] if "@" in address else address
    return local.split("+", 1)[0].lower()


@dataclass(frozen=True)
class Accepted:
    """One envelope the SMTP server accepted (what refmail, or a test, sent)."""

    #: The envelope sender; "" for the null sender (bounces, RFC 5321 §4.5.5).
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    #: The AUTH user when the client authenticated, else None.
    login: str | None = None
    #: ``time.monotonic()`` when the server accepted it (after delivery, just
    #: before answering 250): what latency benchmarks measure between.
    at: float = field(default_factory=time.monotonic, compare=False)

    def message(self) -> EmailMessage:
        """The message parsed with the modern email policy."""
        parsed: Message = BytesParser(policy=policy.default).parsebytes(self.raw)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Refusal:
    code: int
    stage: str
    recipients: frozenset[str] | None
    text: str


class _Handler:
    """aiosmtpd handler: refuse on demand, deliver to Dovecot, then record and say 250."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        needs_auth = self.server.credentials or self.server.oauth is not None
        if needs_auth and not getattr(session, "authenticated", False):
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address  # "<>" for the null sender of bounces
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = self.server._refusal_for("rcpt", address)
        if refusal:
            return f"{refusal.code} {refusal.text}"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        refusal = self.server._refusal_for("data", *envelope.rcpt_tos)
        if refusal:
            return f"{refusal.code} {refusal.text}"
        drop = self.server._take_drop()
        if drop == "before":
            return await self._hang_up(server)
        raw = bytes(envelope.content)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                None, self.server._deliver, envelope.mail_from, list(envelope.rcpt_tos), raw
            )
        except Exception as exc:  # delivery failed: tell the client to try again later
            return f"451 4.3.0 local delivery failed: {exc}"
        login: str | None = None
        if getattr(session, "authenticated", False) and session.auth_data is not None:
            name = getattr(session.auth_data, "login", b"")
            login = name.decode() if isinstance(name, bytes) else str(name)
        mail_from = "" if envelope.mail_from == "<>" else envelope.mail_from
        accepted = Accepted(mail_from, tuple(envelope.rcpt_tos), raw, login)
        self.server._record(accepted)
        if drop == "after":
            return await self._hang_up(server)
        hook = self.server.on_accept
        if hook is not None:  # in a worker thread: the hook may block (kill a client, wait)
            await loop.run_in_executor(None, hook, accepted)
        return "250 2.0.0 OK: delivered"

    @staticmethod
    async def _hang_up(server: Any) -> str:
        """Close the connection at once, with no reply to the DATA just received.

        Closing the transport with nothing buffered makes asyncio drop any
        later write, and aiosmtpd cancels this session when the connection
        is lost; the returned reply is never seen by the client.
        """
        if server.transport is not None:
            server.transport.close()
        await asyncio.sleep(0.05)  # connection_lost() cancels the session meanwhile
        return "421 4.4.2 connection dropped by the test server"


class _OAuthHandler(_Handler):
    """``_Handler`` with AUTH XOAUTH2 and OAUTHBEARER (aiosmtpd's ``auth_*`` hooks)."""

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:
        return await self._bearer(server, args, "XOAUTH2")

    async def auth_OAUTHBEARER(self, server: Any, args: list[str]) -> Any:
        return await self._bearer(server, args, "OAUTHBEARER")

    async def _bearer(self, server: Any, args: list[str], mechanism: str) -> Any:
        import base64
        import binascii
        import json

        from aiosmtpd.smtp import AuthResult, LoginPassword

        if len(args) == 2:
            try:
                blob: Any = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        else:
            blob = await server.challenge_auth("")
        if not isinstance(blob, bytes):  # "*" or bad base64: aiosmtpd answered already
            return AuthResult(success=False, handled=True)
        text = blob.decode("utf-8", "replace")
        fields = dict(p.split("=", 1) for p in text.split("\x01") if "=" in p)
        user = fields.get("user", "")
        if mechanism == "OAUTHBEARER":  # RFC 7628: "n,a=USER," then key=value pairs
            gs2 = text.split("\x01", 1)[0]
            user = next((p[2:] for p in gs2.split(",") if p.startswith("a=")), "")
            user = user.replace("=2C", ",").replace("=3D", "=")
        token = fields.get("auth", "").removeprefix("Bearer ")
        refusal = self.server.oauth_refusal
        if refusal is not None:
            self.server.oauth_logins.append((mechanism, user, False))
            return AuthResult(success=False, handled=False, message=refusal)
        loop = asyncio.get_running_loop()
        try:
            owner = await loop.run_in_executor(None, self.server.oauth.introspect_over_http, token)
        except Exception:  # the token endpoint is down: say so as a temporary failure
            self.server.oauth_logins.append((mechanism, user, False))
            return AuthResult(success=False, handled=False,
                              message="454 4.7.0 Temporary authentication failure")
        ok = owner is not None and owner.lower() == user.lower()
        self.server.oauth_logins.append((mechanism, user, ok))
        if ok:
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        # Gmail's way: a JSON error challenge, answered by the client with a dummy line.
        challenge = json.dumps({"status": "401", "schemes": "bearer", "scope": "mail"})
        answer = await server.challenge_auth(challenge)
        if not isinstance(answer, bytes):  # the client aborted with "*": aiosmtpd said 501
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False,
                          message="535 5.7.8 Username and Password not accepted")


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """``(cert.pem, key.pem)`` in ``directory``: self-signed, for 127.0.0.1 and localhost."""
    openssl = shutil.which("openssl")
    if not openssl:
        raise RuntimeError("a TLS test server needs the openssl command line tool")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)
    return cert, key


class SmtpServer:
    """An SMTP server on 127.0.0.1 that delivers to Dovecot before answering 250.

    Every accepted envelope is appended to :attr:`messages`, whether or not a
    recipient is a Dovecot user. For fault tests, ``refuse(451)`` makes RCPT
    (or DATA) fail until ``accept()``, ``drop()`` closes the connection in the
    middle of DATA, ``halt()`` stops listening until ``start()``, and
    :attr:`on_accept` runs just before a 250. With ``credentials`` AUTH PLAIN/LOGIN
    is offered over plain text (loopback only) and required before MAIL FROM.
    ``tls="starttls"`` offers (and requires) STARTTLS, ``tls="ssl"`` speaks
    implicit TLS, both with a self-signed certificate in :attr:`cert_file`.

    With ``oauth`` (a ``tests/tokenserver.py`` TokenServer) AUTH XOAUTH2 and
    OAUTHBEARER are offered (alone, unless ``credentials`` are given too) and
    required: the token is checked over HTTP with the token server's
    introspection endpoint, as a real server would; 454 when that endpoint is
    down, 535 with Gmail's JSON error challenge for a bad token, and
    :attr:`oauth_refusal` (e.g. Exchange's ``535 5.7.139``) for every login
    while it is set.
    """

    def __init__(
        self,
        dovecot: Dovecot | None = None,
        *,
        credentials: Mapping[str, str] | None = None,
        tls: str | None = None,
        oauth: Any = None,
    ) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if tls not in (None, "starttls", "ssl"):
            raise ValueError("tls is None, 'starttls' or 'ssl'")
        self.dovecot = dovecot
        self.host = LOOPBACK
        self.port = free_port()
        self.tls = tls
        #: The self-signed certificate (for 127.0.0.1 and localhost) when ``tls`` is set.
        self.cert_file: Path | None = None
        self._cert_dir: Path | None = None
        self._lock = threading.Lock()
        self._messages: list[Accepted] = []
        self._refusal: _Refusal | None = None
        self._drops: list[str] = []  # "before" / "after" delivery, one per coming DATA
        #: Called with each accepted envelope after it is recorded and delivered,
        #: before the client hears 250, from a worker thread: a crash test kills
        #: the client here to hit the window between acceptance and its record.
        self.on_accept: Callable[[Accepted], None] | None = None
        self.credentials = dict(credentials or {})
        self.oauth = oauth
        #: A reply that refuses every OAuth2 login while set (then cleared by the test).
        self.oauth_refusal: str | None = None
        #: (mechanism, user, accepted) for each OAuth2 login attempt.
        self.oauth_logins: list[tuple[str, str, bool]] = []

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
        ) -> AuthResult:
            if isinstance(auth_data, LoginPassword):
                user, password = auth_data.login.decode(), auth_data.password.decode()
                if self.credentials.get(user) == password:
                    return AuthResult(success=True, auth_data=auth_data)
            return AuthResult(success=False, handled=False)

        kwargs: dict[str, Any] = {}
        if self.credentials:
            # AUTH is enforced at MAIL FROM by the handler: aiosmtpd's own
            # auth_required warns when combined with plain text (loopback here).
            kwargs = {"authenticator": authenticator, "auth_require_tls": False}
        if oauth is not None:
            kwargs["auth_require_tls"] = False
            if not self.credentials:
                kwargs["auth_exclude_mechanism"] = ["LOGIN", "PLAIN"]
        if tls:
            self._cert_dir = Path(tempfile.mkdtemp(prefix="rmsmtp-", dir="/tmp"))
            self.cert_file, key_file = self_signed_certificate(self._cert_dir)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert_file, key_file)
            if tls == "ssl":  # implicit TLS from the first byte (RFC 8314 §3.3)
                kwargs["ssl_context"] = context
            else:  # STARTTLS offered and required before MAIL (RFC 3207)
                kwargs.update(tls_context=context, require_starttls=True)
        self._controller = Controller(
            (_OAuthHandler if oauth is not None else _Handler)(self),
            hostname=self.host,
            port=self.port,
            server_hostname="mx.test.example",
            ready_timeout=10,
            **kwargs,
        )
        self._started = False

    # -- life cycle -----------------------------------------------------------
    def start(self) -> SmtpServer:
        """Listen (again, after :meth:`halt`: same port, same recorded messages)."""
        if not self._started:
            if self._controller.loop.is_closed():
                # The controller closes its loop when stopped; a restart needs a new one.
                self._controller.loop = asyncio.new_event_loop()
            self._controller.start()
            self._started = True
        return self

    def halt(self) -> None:
        """Stop listening, so connections are refused, until :meth:`start`; for outage tests."""
        if self._started:
            self._started = False
            self._controller.stop()

    @property
    def running(self) -> bool:
        return self._started

    def stop(self) -> None:
        self.halt()
        if self._cert_dir is not None:
            shutil.rmtree(self._cert_dir, ignore_errors=True)
            self._cert_dir = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what was sent --------------------------------------------------------
    @property
    def messages(self) -> list[Accepted]:
        """A snapshot of every accepted envelope, oldest first."""
        with self._lock:
            return list(self._messages)

    def sent_to(self, address: str) -> list[Accepted]:
        """Accepted envelopes with ``address`` among the recipients (case-insensitive)."""
        address = address.lower()
        return [m for m in self.messages if address in (r.lower() for r in m.rcpt_tos)]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def _record(self, accepted: Accepted) -> None:
        with self._lock:
            self._messages.append(accepted)

    # -- faults ---------------------------------------------------------------
    def refuse(
        self,
        code: int = 451,
        *,
        stage: str = "rcpt",
        recipients: Iterable[str] | None = None,
        text: str | None = None,
    ) -> None:
        """Answer ``code`` at RCPT (or DATA) — for every recipient or only ``recipients``."""
        if stage not in ("rcpt", "data"):
            raise ValueError("stage is 'rcpt' or 'data'")
        if not 400 <= code < 600:
            raise ValueError("a refusal code is 4xx (temporary) or 5xx (permanent)")
        default = "4.3.2 try again later" if code < 500 else "5.1.1 refused by the test server"
        wanted = frozenset(r.lower() for r in recipients) if recipients is not None else None
        with self._lock:
            self._refusal = _Refusal(code, stage, wanted, text or default)

    def accept(self) -> None:
        """Leave refuse mode (and forget drops still pending)."""
        with self._lock:
            self._refusal = None
            self._drops.clear()

    def drop(self, count: int = 1, *, after_delivery: bool = False) -> None:
        """Close the connection during the next ``count`` DATA commands, without a reply.

        The client has sent the whole message and hears nothing back (EOF), as
        when a server crashes or a connection is cut. By default the message
        is not kept, so the client must send it again; ``after_delivery`` keeps
        (delivers and records) it first — the ambiguous case, in which the
        client cannot know the server has it and resends a duplicate.
        """
        if count < 1:
            raise ValueError("count is at least 1")
        with self._lock:
            self._drops.extend(["after" if after_delivery else "before"] * count)

    def _take_drop(self) -> str | None:
        with self._lock:
            return self._drops.pop(0) if self._drops else None

    def _refusal_for(self, stage: str, *addresses: str) -> _Refusal | None:
        with self._lock:
            refusal = self._refusal
        if refusal is None or refusal.stage != stage:
            return None
        if refusal.recipients is None or any(a.lower() in refusal.recipients for a in addresses):
            return refusal
        return None

    def _deliver(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> None:
        if self.dovecot is None:
            return
        users = self.dovecot.users
        seen: set[str] = set()
        for rcpt in rcpt_tos:
            user = _local_user(rcpt)
            if user in users and rcpt.lower() not in seen:
                seen.add(rcpt.lower())
                self.dovecot.deliver(user, raw, mail_from=mail_from or "", rcpt=rcpt)


@dataclass
class MailEnv:
    """Both servers plus helpers, as handed to end-to-end tests by ``mail_env``.

    The tracking mailbox is Dovecot user ``user`` (``refs``); its password is in
    the environment variable ``password_env`` while the test runs.
    """

    dovecot: Dovecot
    smtp: SmtpServer
    user: str = "refs"
    password: str = "refs-secret"
    password_env: str = "REFMAIL_TEST_IMAP_PASSWORD"

    def send(
        self,
        message: bytes | EmailMessage,
        mail_from: str | None = None,
        rcpt_tos: Iterable[str] | None = None,
    ) -> None:
        """Send like a member's mail client: real SMTP to :attr:`smtp`.

        For an ``EmailMessage`` the envelope defaults to its From/To/Cc/Bcc
        (``smtplib.send_message``); raw bytes need ``mail_from`` and ``rcpt_tos``.
        Returns after delivery to Dovecot (the message is visible over IMAP).
        """
        with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=30) as client:
            if isinstance(message, EmailMessage):
                client.send_message(
                    message,
                    from_addr=mail_from,
                    to_addrs=list(rcpt_tos) if rcpt_tos is not None else None,
                )
            else:
                if mail_from is None or rcpt_tos is None:
                    raise ValueError("raw bytes need mail_from and rcpt_tos")
                client.sendmail(mail_from, list(rcpt_tos), message)

    def imap_settings(self, **overrides: Any) -> Any:
        """``refmail.config.ImapSettings`` pointing at this Dovecot (plain text, loopback)."""
        from refmail.config import ImapSettings

        values: dict[str, Any] = {
            "host": self.dovecot.host,
            "port": self.dovecot.port,
            "security": "none",
            "username": self.user,
            "password_env": self.password_env,
            "timeout": "10s",
        }
        values.update(overrides)
        return ImapSettings(**values)

    def smtp_settings(self, **overrides: Any) -> Any:
        """``refmail.config.SmtpSettings`` pointing at this SMTP server (no AUTH)."""
        from refmail.config import SmtpSettings

        values: dict[str, Any] = {
            "host": self.smtp.host,
            "port": self.smtp.port,
            "security": "none",
            "username": "",
            "timeout": "10s",
        }
        values.update(overrides)
        return SmtpSettings(**values)

    def inbox(self) -> dict[int, bytes]:
        """UID → raw message in the tracking INBOX right now."""
        return self.dovecot.messages(self.user)


class SharedDovecot(Dovecot):
    """A Dovecot with shared folders: a public namespace ``Public.`` with ACLs (RFC 4314).

    A group's tracking address is often a shared mailbox the account may
    only read (a Microsoft 365 shared mailbox, a Cyrus or Fastmail shared
    folder, a Dovecot ACL): SELECT answers ``[READ-ONLY]``. Dovecot's ``acl``
    plugin with ``vfile`` ACLs (a ``dovecot-acl`` file in each folder) makes
    exactly that server here::

        with SharedDovecot(users={"refs": "pw", "admin": "pw2"}) as dovecot:
            dovecot.add_public_folder("referrals", {"refs": "lr", "admin": "lrwstipekxa"})
            dovecot.append("admin", "Public.referrals", raw)   # as a user with the "i" right
            # refs may read Public.referrals (SELECT says [READ-ONLY]) and change nothing.
    """

    PREFIX = "Public."

    @property
    def public_dir(self) -> Path:
        return self.dir / "public"

    def _write_config(self) -> None:
        super()._write_config()
        self.public_dir.mkdir(mode=0o755, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(self.public_dir, self.uid, self.gid)
        with self.config_file.open("a") as config:
            config.write(
                f"""# Shared folders with ACLs (SharedDovecot).
mail_plugins = $mail_plugins acl
protocol imap {{
  mail_plugins = $mail_plugins imap_acl
}}
plugin {{
  acl = vfile
}}
namespace public {{
  type = public
  separator = .
  prefix = {self.PREFIX}
  location = maildir:{self.public_dir}
  subscriptions = no
  list = children
}}
"""
            )

    def add_public_folder(self, name: str, rights: Mapping[str, str]) -> str:
        """Create ``Public.<name>`` with ``rights`` per user (RFC 4314 letters); returns its IMAP name."""
        if not re.match(r"^[A-Za-z0-9_-]+$", name):
            raise ValueError(f"{name!r}: letters, digits, '_' and '-' only")
        if not self.public_dir.exists():
            self.public_dir.mkdir(mode=0o755)
        folder = self.public_dir / f".{name}"
        for sub in ("", "cur", "new", "tmp"):
            (folder / sub).mkdir(mode=0o700, exist_ok=True)
        acl = folder / "dovecot-acl"
        acl.write_text("".join(f"user={user} {letters}\n" for user, letters in rights.items()))
        if os.geteuid() == 0:
            for path in (self.public_dir, folder, folder / "cur", folder / "new", folder / "tmp", acl):
                os.chown(path, self.uid, self.gid)
        return self.PREFIX + name

    def append(self, user: str, folder: str, raw: bytes) -> int:
        """APPEND ``raw`` to ``folder`` as ``user``; returns its UID (UIDPLUS)."""
        with self.imap(user, folder=None) as client:
            response = client.append(folder, raw)
        found = re.search(rb"APPENDUID \d+ (\d+)", response if isinstance(response, bytes) else b"")
        if not found:
            raise RuntimeError(f"APPEND to {folder} as {user} said {response!r}")
        return int(found.group(1))
