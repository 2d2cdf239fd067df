"""The garbage collector in a serving process (`serve`, `socket`), set once the process has built what it serves with.

Most objects a serving process holds are made while it starts and live as long as it does: modules, classes, the Bolt
app and its listeners, the settings, SQLAlchemy's tables, pydantic's validators. CPython's collector walks all of them
at every full collection, which it starts by itself after enough allocations: about 70 ms of CPU, every request in
flight stalled meanwhile (measured in the benchmark's burst, `bench/run.py`). `gc.freeze()`, documented for this,
moves what exists at that moment out of the collector's sight; a full collection then walks only what came after
(about 4 ms). Frozen objects are still freed when nothing refers to them any more.

A command allocates a few hundred objects that may hold others (requests, responses, Block Kit, log records), nearly
all freed by reference counting as soon as they are done with. The youngest generation is collected after every 700
such allocations (CPython's default): 58 collections and about 50 ms of CPU in a burst of 100 commands. After every
YOUNGEST allocations instead, the same burst spends about 22 ms collecting. The price is that garbage in reference
cycles waits a little longer to be freed: after the burst, the process is 0.4 MB larger (0.8 MB more again at
10,000, which would leave little room under the 100 MB the benchmark holds it to).
"""

from __future__ import annotations

import gc

YOUNGEST = 5_000


def tune_for_serving() -> None:
    """Just before serving: collect what start-up left as garbage, leave the rest out of every later collection,
    and collect the youngest generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNGEST, *gc.get_threshold()[1:])
