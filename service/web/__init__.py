"""The web dashboard: server-rendered page shells plus small vanilla JS on ``/api/v1``.

Pages (all deep-linkable): ``/`` studies list and comparisons, ``/new`` the study /
comparison form (and dataset upload), ``/studies/{id}``, ``/comparisons/{id}``. The
scripts in ``static/`` fetch everything from the API with URLs relative to the page's
``<base href>`` (the app's ``root_path``), so the dashboard works behind a path-prefix
proxy; plotly.js is served from the installed ``plotly`` package, never a CDN.

``create_app`` includes :data:`router` (the HTML pages) and calls :func:`mount_static`
(CSS/JS and plotly.js).
"""

from service.web._assets import mount_static, plotly_js_path
from service.web.router import base_href, router

__all__ = ["base_href", "mount_static", "plotly_js_path", "router"]
