"""CPython's cyclic garbage collector, set for a server that holds many objects per request.

The defaults (a young collection after 700 container objects are allocated, a middle one after 10
young ones) suit short scripts. A store request holds tens of thousands of container objects at
once (pydicom's data elements, the DICOM JSON, the SDKs' requests in flight, for each of its
instances), so nearly every young collection finds most of them still alive and moves them on,
and the full collections that follow, each a walk over every object the process holds, came
every second or two: 18% of the host's CPU while storing ten instances per request, and a
larger share as the process's bounded caches filled (15% at 7,000 instances stored, 24% at
22,000). With a young generation of 10,000, most of a request's objects are freed by their
reference counts before any collection sees them: 3.4% of the CPU by 30,000 instances stored,
with a full collection about once a minute (``docs/performance.md``). Reference cycles, the
only garbage the collector is for, wait up to 10,000 allocations longer to be freed: the price,
which the peak memory of a 1 GB store and a 2 GB retrieve did not show.
"""

from __future__ import annotations

import gc

YOUNG = 10_000
"""Container objects allocated (less those freed) before a young collection; CPython's is 700."""
OLDER = 10
"""Collections of a generation before the next one up is collected too, as CPython's."""


def set_for_server() -> None:
    """Set this process's collection thresholds; called once, as the app is imported."""
    gc.set_threshold(YOUNG, OLDER, OLDER)
