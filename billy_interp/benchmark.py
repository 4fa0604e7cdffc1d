"""``python -m billy_interp.benchmark``: the paper's methods on WKCT tasks, scored and costed.

A shell over :func:`billy_interp.jobs.benchmark.run_benchmark`; the options are the fields of
:class:`billy_interp.jobs.benchmark.BenchmarkConfig` (``--help`` lists them).
"""

from billy_interp.cli import command
from billy_interp.jobs import benchmark as job

main = command(job.BenchmarkConfig, job.run_benchmark, job.__doc__)

if __name__ == "__main__":
    main()
