"""(being written)"""

from symgraph.rewriting.basic import RulePass

FUSION = RulePass("fusion", [])

__all__ = ["FUSION"]
