"""``python -m billy_interp.stability``: are persona vectors the same across extraction seeds?.

A shell over :func:`billy_interp.jobs.stability.run_stability`; the options are the fields of
:class:`billy_interp.jobs.stability.StabilityConfig` (``--help`` lists them).
"""

from billy_interp.cli import command
from billy_interp.jobs import stability as job

main = command(job.StabilityConfig, job.run_stability, job.__doc__)

if __name__ == "__main__":
    main()
