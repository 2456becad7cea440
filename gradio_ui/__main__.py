"""``python -m gradio_ui --api URL [--host H] [--port P]``: serve the chat UI."""
import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls out from a closed network


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m gradio_ui", description=__doc__.splitlines()[0])
    ap.add_argument("--api", default=os.environ.get("VISIONTRAIN_API_URL", "http://127.0.0.1:8000"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7860)
    args = ap.parse_args()
    from gradio_ui.app import build, queued

    ui = queued(build(args.api))
    # No run history: it would keep every call's inputs in the browser, the sign-in's password among them.
    # The footer keeps Gradio's settings (language, theme); its own API page and credits are not this product's.
    ui.launch(server_name=args.host, server_port=args.port, show_error=False, ssr_mode=False, run_history=False,
              footer_links=["settings"])


if __name__ == "__main__":
    main()
