Function = None  # scaffold, replaced by the implementation
function = None  # scaffold, replaced by the implementation
