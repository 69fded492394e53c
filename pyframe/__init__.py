"""pyframe: message framing for byte streams (TCP, AF_UNIX, pipes), with a Cython hot path.

This module is the one place that decides which implementation backs the public names:
the compiled ``pyframe._cframers`` when it is importable, else the pure-Python twin
``pyframe._pyframers`` (identical behaviour). Environment switches, read at import:

* ``PYFRAME_NO_EXTENSIONS=1``: use the pure-Python twin.
* ``PYFRAME_REQUIRE_EXTENSION=1``: a missing compiled module is an ImportError.
"""

import os as _os

from ._errors import (
    FrameError,
    FrameTooLargeError,
    IncompleteFrameError,
    MalformedFrameError,
)
from ._rules import DEFAULT_MAX_FRAME_SIZE

__version__ = "0.1.0"


def _switch(name):
    return _os.environ.get(name, "") not in ("", "0")


def _select():
    if _switch("PYFRAME_NO_EXTENSIONS") and _switch("PYFRAME_REQUIRE_EXTENSION"):
        raise ImportError(
            "PYFRAME_NO_EXTENSIONS and PYFRAME_REQUIRE_EXTENSION are both set: "
            "ask for the pure-Python twin or for the compiled module, not both"
        )
    if _switch("PYFRAME_NO_EXTENSIONS"):
        from . import _pyframers

        return _pyframers, "python"
    try:
        from . import _cframers
    except ImportError as exc:
        if _switch("PYFRAME_REQUIRE_EXTENSION"):
            raise ImportError(
                "PYFRAME_REQUIRE_EXTENSION is set but the compiled module "
                f"pyframe._cframers cannot be imported ({exc}); pyframe was imported "
                f"from {_os.path.dirname(__file__)}"
            ) from exc
        from . import _pyframers

        return _pyframers, "python"
    return _cframers, "cython"


_impl, IMPLEMENTATION = _select()

LengthPrefixFramer = _impl.LengthPrefixFramer
DecimalLengthFramer = _impl.DecimalLengthFramer
DelimiterFramer = _impl.DelimiterFramer
LineFramer = _impl.LineFramer

__all__ = [
    "IMPLEMENTATION",
    "DEFAULT_MAX_FRAME_SIZE",
    "FrameError",
    "FrameTooLargeError",
    "MalformedFrameError",
    "IncompleteFrameError",
    "LengthPrefixFramer",
    "DecimalLengthFramer",
    "DelimiterFramer",
    "LineFramer",
]

# The blocking socket layer (pyframe.sockets); asyncio lives in pyframe.aio.
from .sockets import BrokenStreamError, FramedServer, FramedSocket, connect, serve  # noqa: E402

__all__ += ["FramedSocket", "FramedServer", "BrokenStreamError", "connect", "serve"]
