"""pyframe: message framing for byte streams (TCP, AF_UNIX, pipes), with a Cython hot path.

This module is the one place that decides which implementation backs the public names:
the compiled ``pyframe._cframers`` when it is importable, else the pure-Python twin
``pyframe._pyframers`` (identical behaviour). Environment switches, read at import:

* ``PYFRAME_NO_EXTENSIONS=1``: use the pure-Python twin.
* ``PYFRAME_REQUIRE_EXTENSION=1``: a missing compiled module is an ImportError.

Otherwise a missing compiled module means the pure-Python twin, with a RuntimeWarning unless
the install was made without it on purpose (``PYFRAME_BUILD_EXTENSION=0``). Switch values:
1/true/yes/on, 0/false/no/off (``pyframe._switches``, shared with setup.py).
"""

from __future__ import annotations

import os as _os
import warnings as _warnings
from importlib import import_module as _import_module
from types import ModuleType as _ModuleType
from typing import TYPE_CHECKING
from typing import Any as _Any
from typing import Literal as _Literal

from ._errors import (
    FrameError,
    FrameTooLargeError,
    IncompleteFrameError,
    MalformedFrameError,
)
from ._rules import DEFAULT_MAX_FRAME_SIZE
from ._switches import switch as _switch
from ._types import Framer

__version__ = "0.1.0"


def _select() -> tuple[_ModuleType, _Literal["cython", "python"]]:
    no_extensions = _switch("PYFRAME_NO_EXTENSIONS")
    require = _switch("PYFRAME_REQUIRE_EXTENSION")
    if no_extensions and require:
        raise ImportError(
            "PYFRAME_NO_EXTENSIONS and PYFRAME_REQUIRE_EXTENSION are both set: "
            "ask for the pure-Python twin or for the compiled module, not both"
        )
    if no_extensions:
        from . import _pyframers

        return _pyframers, "python"
    try:
        from . import _cframers
    except ImportError as exc:
        where = f"pyframe was imported from {_os.path.dirname(__file__)}"
        if require:
            raise ImportError(
                "PYFRAME_REQUIRE_EXTENSION is set but the compiled module "
                f"pyframe._cframers cannot be imported ({exc}); {where}"
            ) from exc
        if _built_with_extension():
            _warnings.warn(
                f"pyframe's compiled module cannot be imported ({exc}); {where}. Using the "
                "pure-Python twin, several times slower. Reinstall pyframe-codec where a C "
                "compiler is available, or set PYFRAME_NO_EXTENSIONS=1 to choose the twin.",
                RuntimeWarning,
                stacklevel=3,
            )
        from . import _pyframers

        return _pyframers, "python"
    return _cframers, "cython"


def _built_with_extension() -> bool:
    """Whether this install should carry the compiled module: False only for a pure-Python
    install asked for with PYFRAME_BUILD_EXTENSION=0 (setup.py writes _build.py)."""
    try:
        from ._build import EXTENSION
    except ImportError:  # a source checkout: the compiled module is expected once built
        return True
    return EXTENSION


_impl: _ModuleType  # (annotated: pyframe.sockets takes what it needs from it)
_impl, IMPLEMENTATION = _select()

if TYPE_CHECKING:
    # Type checkers see the compiled classes (their stub, _cframers.pyi); the twin's have the
    # same signatures. At run time the names are bound to the implementation chosen above.
    from . import aio as aio
    from ._cframers import (
        COBSFramer,
        DecimalLengthFramer,
        DelimiterFramer,
        FixedLengthFramer,
        LengthPrefixFramer,
        LineFramer,
        MarkerFramer,
        NetstringFramer,
        SLIPFramer,
        VarintFramer,
    )
else:
    LengthPrefixFramer = _impl.LengthPrefixFramer
    DecimalLengthFramer = _impl.DecimalLengthFramer
    NetstringFramer = _impl.NetstringFramer
    VarintFramer = _impl.VarintFramer
    FixedLengthFramer = _impl.FixedLengthFramer
    DelimiterFramer = _impl.DelimiterFramer
    LineFramer = _impl.LineFramer
    COBSFramer = _impl.COBSFramer
    SLIPFramer = _impl.SLIPFramer
    MarkerFramer = _impl.MarkerFramer

    def __getattr__(name: str) -> _Any:
        # ``pyframe.aio`` without importing asyncio for every user of pyframe: the submodule
        # is imported on first use (it imports nothing from here, so there is no cycle).
        if name == "aio":
            return _import_module(".aio", __name__)  # (``from . import aio`` would recurse)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "IMPLEMENTATION",
    "COBSFramer",
    "DecimalLengthFramer",
    "DelimiterFramer",
    "FixedLengthFramer",
    "FrameError",
    "FrameTooLargeError",
    "Framer",
    "IncompleteFrameError",
    "LengthPrefixFramer",
    "LineFramer",
    "MalformedFrameError",
    "MarkerFramer",
    "NetstringFramer",
    "SLIPFramer",
    "VarintFramer",
]

# The blocking socket layer (pyframe.sockets); asyncio lives in pyframe.aio.
from .sockets import BrokenStreamError, FramedServer, FramedSocket, connect, serve  # noqa: E402

__all__ += ["BrokenStreamError", "FramedServer", "FramedSocket", "connect", "serve"]
