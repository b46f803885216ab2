"""What a message means: intro, reply, bounce or ignored, and what it says.

Pure functions of a :class:`~refmail.mail.message.ParsedMessage` and the
config (no I/O, no clock): the message read once
(:mod:`~refmail.reading.envelope`) and judged by the SPEC's precedence, a chain
of named rules (:mod:`~refmail.reading.classifier`, :mod:`~refmail.reading.rules`);
who is the provider and who the prospect (:mod:`~refmail.reading.roles`), the
keyword command of a reply (:mod:`~refmail.reading.command`) and consent-first
proposals (:mod:`~refmail.reading.proposal`). The result types and the rule
names are in :mod:`~refmail.reading.classification`.
"""
