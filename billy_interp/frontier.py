"""``python -m billy_interp.frontier``: creativity against coherence, steering strength vs sampling temperature.

A shell over :func:`billy_interp.jobs.frontier.run_frontier`; the options are the fields of
:class:`billy_interp.jobs.frontier.FrontierConfig` (``--help`` lists them).
"""

from billy_interp.cli import command
from billy_interp.jobs import frontier as job

main = command(job.FrontierConfig, job.run_frontier, job.__doc__)

if __name__ == "__main__":
    main()
