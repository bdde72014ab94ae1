FAST_COMPILE = None  # scaffold, replaced by the implementation
FAST_RUN = None  # scaffold, replaced by the implementation
Mode = None  # scaffold, replaced by the implementation
get_mode = None  # scaffold, replaced by the implementation
