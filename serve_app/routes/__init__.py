"""Every route of the API, one FastAPI router per module (accounts, catalogue, chat, datasets, jobs,
ops), over the :class:`~serve_app.services.platform.Platform` that the ingress hands to
``deps.serve_platform`` when its replica starts."""
