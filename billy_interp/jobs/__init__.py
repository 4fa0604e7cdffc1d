"""Jobs: one frozen config and one ``run_<job>(config)`` per command.

Each ``python -m billy_interp.<job>`` parses :class:`<Job>Config` from the command line and calls
``billy_interp.jobs.<job>.run_<job>``; notebooks call the same function with the same config. A job
loads what it needs, calls the library (``vectors``, ``evaluation``, ``analysis``), writes its run
directory (``config.json``, ``command.txt``, tables) and draws its figures (``figures``).
"""
