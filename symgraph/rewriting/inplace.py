"""(being written)"""

from symgraph.rewriting.basic import RulePass

INPLACE = RulePass("inplace", [])

__all__ = ["INPLACE"]
