"""The environment switches, read one way by setup.py (at build) and by pyframe (at import).

A switch is on for ``1``, ``true``, ``yes`` or ``on``, off for ``0``, ``false``, ``no`` or
``off`` (any case); unset or empty means its default. Any other value is an error: a typo
must not silently mean one or the other. This module imports nothing from pyframe, so that
setup.py can load it from the source tree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Optional

ON = ("1", "true", "yes", "on")
OFF = ("0", "false", "no", "off")


def switch(name: str, default: bool = False, environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether the switch ``name`` is on."""
    raw = (os.environ if environ is None else environ).get(name, "")
    value = raw.strip().lower()
    if not value:
        return default
    if value in ON:
        return True
    if value in OFF:
        return False
    raise ValueError(f"{name}={raw!r}: use one of {', '.join(ON)} or {', '.join(OFF)}")
