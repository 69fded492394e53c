"""Types shared by the public API: ``Buffer`` (what a payload may be) and ``Framer`` (what
the socket and asyncio layers need of a framer).

``Buffer`` is PEP 688's buffer type, which every type checker knows on every supported
Python as ``typing_extensions.Buffer`` (from its bundled stubs: nothing is imported at run
time). At run time it is ``collections.abc.Buffer`` from Python 3.12 on, and before that a
plain union of the built-in buffer types, so that ``typing.get_type_hints()`` works on 3.9
without typing_extensions, which pyframe does not depend on.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Optional, Protocol, Union

if TYPE_CHECKING:
    from typing_extensions import Buffer
elif sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    Buffer = Union[bytes, bytearray, memoryview]

__all__ = ["Buffer", "Framer"]


class Framer(Protocol):
    """A framer, as ``FramedSocket``, ``FramedServer`` and ``pyframe.aio`` use it.

    Every pyframe framer class (``LengthPrefixFramer``, ``DecimalLengthFramer``,
    ``DelimiterFramer``, ``LineFramer``, from either implementation) is a Framer, and so is
    any class of your own with these members: this is a static protocol, not a base class.
    """

    @property
    def max_frame_size(self) -> Optional[int]: ...

    @property
    def pending(self) -> int: ...

    def feed(self, data: Buffer) -> list[bytes]: ...

    def get_buffer(self, sizehint: int = -1) -> memoryview: ...

    def buffer_updated(self, nbytes: int) -> None: ...

    def next_frame(self) -> Optional[bytes]: ...

    def pop_frames(self) -> list[bytes]: ...

    def eof(self) -> list[bytes]: ...

    def reset(self) -> None: ...

    def encode(self, payload: Buffer) -> bytes: ...

    def encode_parts(self, payload: Buffer) -> tuple[bytes, bytes]: ...

    def encode_many(self, payloads: Iterable[Buffer]) -> bytes: ...
