"""What an operator sees and does: the library behind the admin commands.

``refmail init`` (:mod:`~refmail.admin.wizard`), ``refmail check``
(:mod:`~refmail.admin.checkup`), the per-member report
(:mod:`~refmail.admin.report`), the CSV export (:mod:`~refmail.admin.export`)
and the terminal tables they share (:mod:`~refmail.admin.display`).
"""
