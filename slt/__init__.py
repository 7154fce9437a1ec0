"""SLT: Sequence-Level Training for visual tracking (Kim et al., ECCV 2022), host-free core.

Modules: :mod:`slt.policy` (score shaping and action selection), :mod:`slt.scst` (rewards, baselines and
the SCST loss), :mod:`slt.sampling` (sequence clips), :mod:`slt.data` (dataset readers and synthetic
videos), :mod:`slt.metrics` (OPE and GOT-10k metrics).
"""

__version__ = "0.1.0"
