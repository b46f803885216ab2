"""Pure rules with the clock passed in: what is due, and what is allowed.

Which follow-up a referral needs now (:mod:`~refmail.policy.rules`), what a
consent-first proposal needs (:mod:`~refmail.policy.consent`), the
ready-to-send introduction (:mod:`~refmail.policy.draft`) and signed reply
tokens (:mod:`~refmail.policy.tokens`). Nothing here reads a database or a
socket, so every rule is a unit test away.
"""
