"""Benchmarks comparing trio_apistar with a raw ASGI app and other frameworks on Hypercorn/Trio.

Run everything with ``python -m benchmarks.run``; see ``benchmarks/README.md``.
"""
