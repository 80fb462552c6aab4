"""One thin entry point per DVC stage: read params, call components, write outs.

Importing this package (``python -m pipelines.<stage>`` does, before the stage's own imports)
sizes the math thread pools to the stage's CPU share (``CHURNGUARD_CPU_SHARE``,
:mod:`churnguard.core.threads`), while numpy and torch are not loaded yet.
"""

from churnguard.core.threads import apply_cpu_share

apply_cpu_share()
