"""Synthetic sequence tasks and small real datasets.

The generators reproduce the long-time-lag benchmarks of Hochreiter &
Schmidhuber (1997); the loaders return small real series bundled with skseq.
"""

from ._base import load_airline_passengers
from ._generators import (
    make_adding_problem,
    make_embedded_reber,
    make_embedded_reber_next_symbols,
    make_multiplication_problem,
    make_temporal_order,
)
from ._ucr import load_gunpoint, load_italy_power_demand, load_japanese_vowels

__all__ = [
    "load_airline_passengers",
    "load_gunpoint",
    "load_italy_power_demand",
    "load_japanese_vowels",
    "make_adding_problem",
    "make_embedded_reber",
    "make_embedded_reber_next_symbols",
    "make_multiplication_problem",
    "make_temporal_order",
]
