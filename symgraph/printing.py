debugprint = dprint = None  # scaffold
