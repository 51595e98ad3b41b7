"""``matcalc serve``: the local web page and its JSON API (the ``web`` extra: Starlette, uvicorn).

``api`` validates requests and runs the jobs, ``workers`` runs them in worker processes under
time and memory limits, ``app`` is the Starlette application, ``examples`` the examples menu,
``static/`` the page with the vendored KaTeX.
It may import the public API ``matcalc`` and everything below it; only the CLI (``matcalc serve``)
imports it.
"""
