"""(being written)"""

from symgraph.rewriting.basic import RulePass

STABILIZE = RulePass("stabilize", [])

__all__ = ["STABILIZE"]
