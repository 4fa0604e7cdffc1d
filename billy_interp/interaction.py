"""``python -m billy_interp.interaction``: do merged persona vectors add up linearly?.

A shell over :func:`billy_interp.jobs.interaction.run_interaction`; the options are the fields of
:class:`billy_interp.jobs.interaction.InteractionConfig` (``--help`` lists them).
"""

from billy_interp.cli import command
from billy_interp.jobs import interaction as job

main = command(job.InteractionConfig, job.run_interaction, job.__doc__)

if __name__ == "__main__":
    main()
