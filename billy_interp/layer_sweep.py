"""``python -m billy_interp.layer_sweep``: where and how hard to steer, measured.

A shell over :func:`billy_interp.jobs.layer_sweep.run_layer_sweep`; the options are the fields of
:class:`billy_interp.jobs.layer_sweep.SweepConfig` (``--help`` lists them).
"""

from billy_interp.cli import command
from billy_interp.jobs import layer_sweep as job

main = command(job.SweepConfig, job.run_layer_sweep, job.__doc__)

if __name__ == "__main__":
    main()
