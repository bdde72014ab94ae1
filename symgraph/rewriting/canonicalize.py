"""(being written)"""

from symgraph.rewriting.basic import RulePass

CANONICALIZE = RulePass("canonicalize", [])

__all__ = ["CANONICALIZE"]
