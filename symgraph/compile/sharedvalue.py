SharedVariable = None  # scaffold, replaced by the implementation
shared = None  # scaffold, replaced by the implementation
