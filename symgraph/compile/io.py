In = None  # scaffold, replaced by the implementation
Out = None  # scaffold, replaced by the implementation
