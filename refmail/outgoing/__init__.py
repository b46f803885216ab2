"""Mail going out: the durable outbox and the SMTP transport.

A message is queued in the same transaction as the change that causes it
(:mod:`~refmail.outgoing.outbox`), then handed to SMTP
(:mod:`~refmail.outgoing.transport`) and marked sent.
"""
