"""``python -m billy_interp.geometry``: the cosine geometry of persona vectors.

A shell over :func:`billy_interp.jobs.geometry.run_geometry`; the options are the fields of
:class:`billy_interp.jobs.geometry.GeometryConfig` (``--help`` lists them).
"""

from billy_interp.cli import command
from billy_interp.jobs import geometry as job

main = command(job.GeometryConfig, job.run_geometry, job.__doc__)

if __name__ == "__main__":
    main()
