"""Types of the compiled floor (src/_floor.pyx): the bench's measuring stick."""

from array import array
from typing import Optional

PIECE: int
OPENS_FRAME: int
CLOSES_FRAME: int
WHOLE_FRAME: int

def decode(chunks: list[bytes], plan: array[int], out: Optional[list[bytes]] = None) -> int: ...
