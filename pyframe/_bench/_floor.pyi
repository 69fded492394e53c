"""Types of the compiled floor (src/_floor.pyx): the bench's measuring stick."""

from array import array
from typing import Optional

FIXED: int

def decode(chunks: list[bytes], plan: array[int], out: Optional[list[bytes]] = None) -> int: ...
