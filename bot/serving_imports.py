"""What a serving process (`serve`, `socket`) leaves unimported: the terminal packages it never uses.

httpx imports its command-line client from its package `__init__` whenever click, pygments and rich can all be
imported (`try: from ._main import main`, falling back to a stub that explains how to install `httpx[cli]`).
`rich` is installed for `shell`, click for uvicorn, so a serving process would load rich, pygments and the CLI (about
4 MiB) without ever drawing anything in a terminal. Marking rich and pygments as not importable, which the import
system documents (a module whose `sys.modules` entry is None raises ModuleNotFoundError), makes httpx take its
fallback; nothing else changes. `shell` and `check` run in processes of their own and are not affected.
"""

from __future__ import annotations

import sys

TERMINAL_ONLY = ("rich", "pygments")


def leave_out_terminal_packages() -> None:
    """Call before anything imports httpx; a package already imported is left alone."""
    for name in TERMINAL_ONLY:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None: documented "not importable"
