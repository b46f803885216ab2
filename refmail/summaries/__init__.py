"""The weekly summaries: what each member and the admins read.

Computed in a constant number of queries: :mod:`~refmail.summaries.values`
(the shared queries and value types), :mod:`~refmail.summaries.member` (a
member's week) and :mod:`~refmail.summaries.group` (the admins' totals).
"""
