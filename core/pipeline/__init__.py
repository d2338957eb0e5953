"""The pipeline: from an experiment file to a published results database.

``experiment`` reads and validates the TOML; ``plan`` turns it into the jobs to build (pure);
``build_inputs`` loads the data and benchmarks; ``build`` sequences the stages, running the
``tasks`` on an ``executors`` backend and writing through ``publish`` (the work file and its
writer lock); ``study`` and ``analysis_tables`` fill the derived tables; ``register`` adds a
user's checkpoint; ``synth`` writes a synthetic database for scale tests. The pipeline uses the
library (``core.models``, ``core.features``, ``core.store``, …); the library never imports it.
"""
