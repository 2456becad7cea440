"""The Gradio chat UI: a client of the platform's HTTP API only (``python -m gradio_ui --api URL``)."""
