"""``python -m billy_interp.conformance``: the architecture support table, checked against HF.

A shell over :func:`billy_interp.jobs.conformance.run_conformance`; the options are the fields of
:class:`billy_interp.jobs.conformance.ConformanceConfig` (``--help`` lists them).
"""

from billy_interp.cli import command
from billy_interp.jobs import conformance as job

main = command(job.ConformanceConfig, job.run_conformance, job.__doc__)

if __name__ == "__main__":
    main()
