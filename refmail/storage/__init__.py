"""Where referrals live: SQLite through sqlite-utils.

The store (:mod:`~refmail.storage.store`), its schema as named migrations
(:mod:`~refmail.storage.migrations`), and the lock that keeps one daemon per
database (:mod:`~refmail.storage.lock`).
"""
