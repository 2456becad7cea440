"""The API's routes beyond the Serve ingress class: each module is one FastAPI router over the
:class:`~serve_app.platform.Platform` that the ingress puts in ``app.state.platform``."""
