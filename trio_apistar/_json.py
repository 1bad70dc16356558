"""The one JSON encoding trio_apistar sends, over HTTP and WebSockets alike.

Compact (no spaces after ``,`` and ``:``), UTF-8 text as it is (not ``\\u``-escaped), and no
``NaN``/``Infinity``, which are not JSON (``ValueError``).
"""

import json
from typing import Any

__all__ = ["dumps"]

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps(data: Any) -> str:
    """``data`` as compact JSON text; ``TypeError``/``ValueError`` for what JSON cannot hold."""
    return _ENCODER.encode(data)
