"""The chaos suite: faults injected into the real local stack while a stream runs through workers."""
