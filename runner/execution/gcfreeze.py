"""Keep the garbage collector off long-lived configuration objects."""

from __future__ import annotations

import gc


def freeze_long_lived_objects() -> None:
    """Exempt the configuration and planned calls from garbage collection.

    With 10,000 planned endpoints a full collection takes about 100 ms (measured
    on a 2-core x86_64 machine), and the allocations of a tick trigger several,
    which delays the calls dispatched after them. Frozen objects are not scanned.
    Unfreezing first lets the collection free the plans and configuration that a
    reload or a rotation replaced.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
