"""``python -m billy_interp.figures``: rebuild ``figures/`` from run directories.

A shell over :func:`billy_interp.figures.build.run_figures` (see :mod:`billy_interp.figures.build`).
"""

from billy_interp.cli import command
from billy_interp.figures import build as job

main = command(job.FiguresConfig, job.run_figures, job.__doc__)

if __name__ == "__main__":
    main()
