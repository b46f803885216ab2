"""What a message means: intro, reply, bounce or ignored, and what it says.

Pure functions of a :class:`~refmail.mail.message.ParsedMessage` and the
config (no I/O, no clock): the SPEC's precedence rules
(:mod:`~refmail.reading.classifier`), who is the provider and who the prospect
(:mod:`~refmail.reading.roles`), the keyword command of a reply
(:mod:`~refmail.reading.command`) and consent-first proposals
(:mod:`~refmail.reading.proposal`). The result types are in
:mod:`~refmail.reading.classification`.
"""
