"""Pure domain logic: delays, run references (no I/O)."""
