"""``python -m billy_interp.extract``: persona vectors from contrastive D+/D- generations.

A shell over :func:`billy_interp.jobs.extract.run_extract`; the options are the fields of
:class:`billy_interp.jobs.extract.ExtractConfig` (``--help`` lists them).
"""

from billy_interp.cli import command
from billy_interp.jobs import extract as job

main = command(job.ExtractConfig, job.run_extract, job.__doc__)

if __name__ == "__main__":
    main()
