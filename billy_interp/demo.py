"""``python -m billy_interp.demo``: BILLY steering on the embedded model, side by side.

A shell over :func:`billy_interp.jobs.demo.run_demo`; the options are the fields of
:class:`billy_interp.jobs.demo.DemoConfig` (``--help`` lists them).
"""

from billy_interp.cli import command
from billy_interp.jobs import demo as job

main = command(job.DemoConfig, job.run_demo, job.__doc__)

if __name__ == "__main__":
    main()
