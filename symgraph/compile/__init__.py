"""Compiling graphs into callable functions."""

from symgraph.compile.builders import OpFromGraph
from symgraph.compile.function import Function, function
from symgraph.compile.io import In, Out
from symgraph.compile.mode import FAST_COMPILE, FAST_RUN, Mode, get_mode
from symgraph.compile.profiling import ProfileStats
from symgraph.compile.sharedvalue import SharedVariable, shared
