# Type information for the compiled module (built from src/_cframers.pyx); the pure-Python
# twin pyframe._pyframers has the same classes and signatures. tests/test_typing.py holds
# both to this stub (mypy.stubtest). Payloads are typing_extensions.Buffer (PEP 688, the
# same as collections.abc.Buffer on 3.12+): any bytes-like object, on every Python a type
# checker targets; a stub is never imported, so this adds no run-time dependency.
import socket
from collections.abc import Callable, Iterable
from typing import Literal, Optional, SupportsIndex, Union

from typing_extensions import Buffer, disjoint_base

__all__ = [
    "COBSFramer",
    "DecimalLengthFramer",
    "DelimiterFramer",
    "FixedLengthFramer",
    "LengthPrefixFramer",
    "LineFramer",
    "MarkerFramer",
    "NetstringFramer",
    "SLIPFramer",
    "VarintFramer",
]

# What to do with a bad frame: fail (the default), skip it raising its fault once, or
# skip it counting it only.
_OnError = Literal["fail", "raise", "skip"]

# What a delimiter may be given as (exactly these types; the framer keeps bytes).
_Delimiter = Union[bytes, bytearray, memoryview]

def _vector_scan(on: Optional[bool] = None) -> bool: ...

# pyframe.sockets' first attempt at a send (None where sends cannot be told not to wait).
_send_nowait: Optional[Callable[[socket.socket, bytes, list[int]], bool]]

@disjoint_base
class _Framer:
    @property
    def max_frame_size(self) -> Optional[int]: ...
    @max_frame_size.setter
    def max_frame_size(self, value: Optional[int]) -> None: ...
    @property
    def on_error(self) -> _OnError: ...
    @property
    def verbatim(self) -> bool: ...
    @property
    def failed(self) -> bool: ...
    @property
    def skipped(self) -> int: ...
    @property
    def pending(self) -> int: ...
    def reset(self) -> None: ...
    def detach(self) -> bytes: ...
    def feed(self, data: Buffer) -> list[bytes]: ...
    def get_buffer(self, sizehint: SupportsIndex = -1) -> memoryview: ...
    def buffer_updated(self, nbytes: SupportsIndex) -> None: ...
    def next_frame(self) -> Optional[bytes]: ...
    def pop_frames(self) -> list[bytes]: ...
    def eof(self, *, last_frame: bool = False) -> list[bytes]: ...
    def encode(self, payload: Buffer) -> bytes: ...
    def encode_many(self, payloads: Iterable[Buffer]) -> bytes: ...
    def encode_parts(self, payload: Buffer) -> tuple[bytes, bytes]: ...

@disjoint_base
class LengthPrefixFramer(_Framer):
    def __init__(
        self,
        length_size: int = 4,
        byteorder: Literal["big", "little"] = "big",
        *,
        offset: int = 0,
        adjustment: int = 0,
        include_header: bool = False,
        max_frame_size: Optional[int] = ...,
        on_error: _OnError = ...,
    ) -> None: ...
    @property
    def length_size(self) -> int: ...
    @property
    def byteorder(self) -> Literal["big", "little"]: ...
    @property
    def offset(self) -> int: ...
    @property
    def adjustment(self) -> int: ...
    @property
    def include_header(self) -> bool: ...

@disjoint_base
class DecimalLengthFramer(_Framer):
    def __init__(
        self,
        digits: int = 4,
        *,
        max_frame_size: Optional[int] = ...,
        on_error: _OnError = ...,
    ) -> None: ...
    @property
    def digits(self) -> int: ...

class NetstringFramer(_Framer):
    def __init__(
        self, *, max_frame_size: Optional[int] = ..., on_error: _OnError = ...
    ) -> None: ...

class VarintFramer(_Framer):
    def __init__(
        self, *, max_frame_size: Optional[int] = ..., on_error: _OnError = ...
    ) -> None: ...

@disjoint_base
class FixedLengthFramer(_Framer):
    def __init__(
        self,
        size: int,
        *,
        max_frame_size: Optional[int] = ...,
        on_error: _OnError = ...,
    ) -> None: ...
    @property
    def size(self) -> int: ...

@disjoint_base
class DelimiterFramer(_Framer):
    def __init__(
        self,
        delimiter: Union[_Delimiter, tuple[_Delimiter, ...]] = b"\n",
        *,
        keep_delimiter: bool = False,
        max_frame_size: Optional[int] = ...,
        on_error: _OnError = ...,
    ) -> None: ...
    @property
    def delimiters(self) -> tuple[bytes, ...]: ...
    @property
    def keep_delimiter(self) -> bool: ...

class LineFramer(DelimiterFramer):
    def __init__(
        self,
        *,
        line_ending: Literal[b"\n", b"\r\n"] = b"\n",
        max_frame_size: Optional[int] = ...,
        on_error: _OnError = ...,
    ) -> None: ...

@disjoint_base
class MarkerFramer(_Framer):
    def __init__(
        self,
        start: _Delimiter = b"\x02",
        end: _Delimiter = b"\x03",
        *,
        escape: Optional[_Delimiter] = None,
        max_frame_size: Optional[int] = ...,
        on_error: _OnError = ...,
    ) -> None: ...
    @property
    def start(self) -> bytes: ...
    @property
    def end(self) -> bytes: ...
    @property
    def escape(self) -> Optional[bytes]: ...
    @property
    def garbage(self) -> int: ...

@disjoint_base
class COBSFramer(_Framer):
    def __init__(
        self, *, max_frame_size: Optional[int] = ..., on_error: _OnError = ...
    ) -> None: ...

@disjoint_base
class SLIPFramer(_Framer):
    def __init__(
        self,
        *,
        leading_end: bool = False,
        max_frame_size: Optional[int] = ...,
        on_error: _OnError = ...,
    ) -> None: ...
    @property
    def leading_end(self) -> bool: ...
