OpFromGraph = None  # scaffold, replaced by the implementation
