"""``python -m billy_interp.compare``: paired differences between benchmark methods.

A shell over :func:`billy_interp.jobs.compare.run_compare`; the options are the fields of
:class:`billy_interp.jobs.compare.CompareConfig` (``--help`` lists them).
"""

from billy_interp.cli import command
from billy_interp.jobs import compare as job

main = command(job.CompareConfig, job.run_compare, job.__doc__)

if __name__ == "__main__":
    main()
