# setup.py writes pyframe/_build.py into every install; a source checkout has none.
EXTENSION: bool  # whether this install carries the compiled module
