"""Model backends behind one streaming interface (see types.py and errors.py)."""
