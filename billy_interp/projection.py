"""``python -m billy_interp.projection``: prompting vs steering along persona directions (Fig. 3).

A shell over :func:`billy_interp.jobs.projection.run_projection`; the options are the fields of
:class:`billy_interp.jobs.projection.ProjectionConfig` (``--help`` lists them).
"""

from billy_interp.cli import command
from billy_interp.jobs import projection as job

main = command(job.ProjectionConfig, job.run_projection, job.__doc__)

if __name__ == "__main__":
    main()
