"""Every route of the API, one FastAPI router per module (accounts, catalogue, chat, datasets, jobs,
ops, predict), over the :class:`~serve_app.services.platform.Platform` that the ingress hands to
``deps.serve_platform`` when its replica starts. ``ROUTERS`` is what the app serves."""
from serve_app.routes import accounts, catalogue, chat, datasets, jobs, ops, predict

__all__ = ["ROUTERS"]

ROUTERS = (ops.router, accounts.router, catalogue.router, chat.router, jobs.router, predict.router,
           datasets.router)
