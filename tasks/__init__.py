"""Tasks handed to officers, one-off or in 日结/周清/月结 cycles, closed from the phone."""
