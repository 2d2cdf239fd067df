"""One file per revision, in order: each written out by hand (never generated from the current Table objects), so
replaying the history builds exactly what it built the day it was written."""
