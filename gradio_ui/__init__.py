"""The Gradio chat UI (a client of the HTTP API only). Not built yet: see the open UI issue."""
