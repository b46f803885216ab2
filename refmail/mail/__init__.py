"""Raw mail into plain values: the first stage every message passes through.

Bytes in, :class:`~refmail.mail.message.ParsedMessage` out — headers decoded,
addresses lower-case, the body as text, forwards and returned originals found —
without ever raising and without knowing anything about referrals. This
package imports nothing else of refmail, so it can be tested, fuzzed and
benchmarked on a file alone.

- :mod:`~refmail.mail.addresses`: one mailbox (:class:`Address`) and lenient address lists;
- :mod:`~refmail.mail.message`: one raw message read into a ``ParsedMessage``;
- :mod:`~refmail.mail.limits`: how much of one message is read, whoever sent it;
- :mod:`~refmail.mail.mime`, :mod:`~refmail.mail.decoding`: the fast MIME reader, charsets, RFC 2047, HTML;
- :mod:`~refmail.mail.forwarding`: inline forward blocks of the common clients;
- :mod:`~refmail.mail.reply`: the new text of a reply (quotes and signatures removed);
- :mod:`~refmail.mail.authresults`: ``Authentication-Results`` (RFC 8601).
"""
