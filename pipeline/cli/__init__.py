"""The ``callradar`` command: one module per verb, ``main`` puts them together."""
