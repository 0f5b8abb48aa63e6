"""honed's pictures: the standalone HTML report (``honed report``) and the dashboard
(``honed ui``): FastAPI, Jinja2 templates and HTMX, every asset served from this package.

Report data comes from ``honed.lifecycle.report`` (what a report shows); this package only draws
it (``document``, ``views``, ``svg``, ``templates/``) and serves it (``app``, ``routes``). Nothing
here is imported when ``honed`` starts: FastAPI and Jinja2 load with the first report or page.
"""
