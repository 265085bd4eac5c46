"""Reports: verdict + history in, console summary, results.json, junit.xml, report.html out.

:func:`render_run` rebuilds a stored run's junit.xml and report.html from its directory;
:mod:`reports.perf` summarises performance, :mod:`reports.results` builds results.json,
:mod:`reports.console` prints the summary, :mod:`reports.index` lists the runs of a store
for ``chaos serve``.
"""

from reports.render import render_run

__all__ = ["render_run"]
