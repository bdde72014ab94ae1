"""Linkers: turning a FunctionGraph into something that runs."""

from symgraph.link.utils import raise_with_op
from symgraph.link.vm import VM, VMLinker

__all__ = ["VM", "VMLinker", "raise_with_op"]
