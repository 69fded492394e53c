# Type information for the compiled module (built from src/_cframers.pyx); the pure-Python
# twin pyframe._pyframers has the same classes and signatures.
from collections.abc import Iterable
from typing import Literal, Optional

_Bytes = bytes | bytearray | memoryview

class _Framer:
    @property
    def max_frame_size(self) -> Optional[int]: ...
    @property
    def pending(self) -> int: ...
    def reset(self) -> None: ...
    def feed(self, data: _Bytes) -> list[bytes]: ...
    def get_buffer(self, sizehint: int = -1) -> memoryview: ...
    def buffer_updated(self, nbytes: int) -> None: ...
    def next_frame(self) -> Optional[bytes]: ...
    def pop_frames(self) -> list[bytes]: ...
    def eof(self) -> list[bytes]: ...
    def encode(self, payload: _Bytes) -> bytes: ...
    def encode_parts(self, payload: _Bytes) -> tuple[bytes, bytes]: ...
    def encode_many(self, payloads: Iterable[_Bytes]) -> bytes: ...

class LengthPrefixFramer(_Framer):
    length_size: int
    byteorder: Literal["big", "little"]
    offset: int
    adjustment: int
    include_header: bool
    def __init__(
        self,
        length_size: int = 4,
        byteorder: Literal["big", "little"] = "big",
        *,
        offset: int = 0,
        adjustment: int = 0,
        include_header: bool = False,
        max_frame_size: Optional[int] = ...,
    ) -> None: ...

class DecimalLengthFramer(_Framer):
    digits: int
    def __init__(self, digits: int = 4, *, max_frame_size: Optional[int] = ...) -> None: ...

class DelimiterFramer(_Framer):
    delimiters: tuple[bytes, ...]
    keep_delimiter: bool
    def __init__(
        self,
        delimiter: bytes | tuple[bytes, ...] = b"\n",
        *,
        keep_delimiter: bool = False,
        max_frame_size: Optional[int] = ...,
    ) -> None: ...

class LineFramer(DelimiterFramer):
    def __init__(
        self, *, line_ending: bytes = b"\n", max_frame_size: Optional[int] = ...
    ) -> None: ...
