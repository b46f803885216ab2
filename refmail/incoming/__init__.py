"""Mail coming in: the IMAP mailbox and files for ``refmail import``.

:mod:`~refmail.incoming.mailbox` (TLS, UIDVALIDITY, batches, reconnects),
:mod:`~refmail.incoming.idling` (IDLE, NOOP checks, polling) and
:mod:`~refmail.incoming.sources` (``.eml``, mbox, Maildir).
"""
