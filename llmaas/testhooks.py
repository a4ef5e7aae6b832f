"""Pause points for end-to-end tests that kill a process at a known moment.

With ``LLMAAS_TEST_HOOKS_DIR`` set (ignored in production), ``checkpoint("name")`` stops once
when the file ``<dir>/name.arm`` exists: it removes it, writes ``<dir>/name.paused`` (with the
pid) and waits until ``<dir>/name.release`` appears or the process is killed. Elsewhere it costs
one settings lookup.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from django.conf import settings

from llmaas.env import is_production

MAX_PAUSE_SECONDS = 600


def checkpoint(name: str) -> None:
    directory = settings.TEST_HOOKS_DIR
    if not directory or is_production():
        return
    base = Path(directory)
    arm = base / f"{name}.arm"
    try:
        arm.unlink()
    except FileNotFoundError:
        return
    (base / f"{name}.paused").write_text(str(os.getpid()))
    release = base / f"{name}.release"
    deadline = time.monotonic() + MAX_PAUSE_SECONDS
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(FileNotFoundError):
        release.unlink()
