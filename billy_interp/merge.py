"""``python -m billy_interp.merge``: merge saved persona vectors by a recipe.

A shell over :func:`billy_interp.jobs.merge.run_merge`; the options are the fields of
:class:`billy_interp.jobs.merge.MergeConfig` (``--help`` lists them).
"""

from billy_interp.cli import command
from billy_interp.jobs import merge as job

main = command(job.MergeConfig, job.run_merge, job.__doc__)

if __name__ == "__main__":
    main()
