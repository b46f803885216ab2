"""Applying mail to the record, and planning what to send.

:mod:`~refmail.workflow.tracker` applies one classified message to the store,
atomically with its mailbox position; :mod:`~refmail.workflow.responses`
matches replies to refmail's own mail; :mod:`~refmail.workflow.planner` turns
due rules into queued mail; :mod:`~refmail.workflow.digest` sends the weekly
summaries once a week.
"""
