"""``python -m billy_interp.vector_report``: held-out separation of extracted vectors, as Markdown.

A shell over :func:`billy_interp.jobs.vector_report.run_vector_report`; the options are the fields of
:class:`billy_interp.jobs.vector_report.ReportConfig` (``--help`` lists them).
"""

from billy_interp.cli import command
from billy_interp.jobs import vector_report as job

main = command(job.ReportConfig, job.run_vector_report, job.__doc__)

if __name__ == "__main__":
    main()
