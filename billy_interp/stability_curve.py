"""``python -m billy_interp.stability_curve``: how many D+/D- samples make persona vectors agree?

A shell over :func:`billy_interp.jobs.stability_curve.run_stability_curve`; the options are the fields of
:class:`billy_interp.jobs.stability_curve.StabilityCurveConfig` (``--help`` lists them).
"""

from billy_interp.cli import command
from billy_interp.jobs import stability_curve as job

main = command(job.StabilityCurveConfig, job.run_stability_curve, job.__doc__)

if __name__ == "__main__":
    main()
