"""(being written)"""

from symgraph.rewriting.basic import RulePass

SPECIALIZE = RulePass("specialize", [])

__all__ = ["SPECIALIZE"]
