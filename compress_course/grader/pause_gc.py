"""Imported first by the fork server: no garbage collection while it imports everything.

Importing torch, torch._dynamo, matplotlib, pytest and the hidden checks creates millions of
objects, and each full collection along the way walks all of them: about 0.6 s of CPU of
the server's 3 s, for no garbage. ``warm`` (imported last) moves everything to the
permanent generation with ``gc.freeze()`` and turns collection back on; a grading process
or a sandbox turns it on again anyway (``gc.enable()``), in case ``warm`` failed to import.
"""

import gc

gc.disable()
