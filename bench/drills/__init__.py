"""Production drills: the whole site under load, faults and hostile input (see run.py)."""
