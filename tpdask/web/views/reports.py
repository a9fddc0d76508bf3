"""``/reports/{name}``: a Dask job's performance report, for admins, as a download.

The reports are the HTML files jobs save under ``<data_dir>/reports/`` (see
:func:`tpdask.executor.performance_report`): task streams, worker memory, profiles. They
carry their own scripts, so they are sent as attachments to open locally, never rendered
under the site's content security policy.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse

from tpdask.executor import REPORT_NAME, reports_dir
from tpdask.web.answers import Answer
from tpdask.web.site import site_of


def report(request: Request) -> Answer | FileResponse:
    """The report file of that name, when it is one a job wrote (the name is checked
    whole: no path reaches the file system)."""
    name = request.path_params["name"]
    path = reports_dir(site_of(request).config.data_dir) / name
    if not REPORT_NAME.fullmatch(name) or not path.is_file():
        return "error.html", None
    return FileResponse(path, media_type="text/html", filename=name,
                        content_disposition_type="attachment")
