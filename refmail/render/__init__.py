"""Turning a step and its context into an email.

:mod:`~refmail.render.renderer` renders the Jinja2 templates in
``refmail/render/templates/`` (text and autoescaped HTML);
:mod:`~refmail.render.composer` builds the MIME message (headers, threading,
RFC 3834, no header injection).
"""
