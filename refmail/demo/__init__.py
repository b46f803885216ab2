"""``refmail demo``: the whole pipeline on an embedded group and inbox.

:mod:`~refmail.demo.runner` captures the sample inbox in ``data/`` and
:mod:`~refmail.demo.scenario` plays five simulated weeks of replies and
follow-up, writing every message refmail sends to disk.
"""
