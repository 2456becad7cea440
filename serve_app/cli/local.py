"""The commands that work on this machine: the local platform (up, serve, down, demo), datasets on
disk (synth, add, validate), its accounts, the parser and the model registry in-process."""
from __future__ import annotations

import getpass
import json
import os
import secrets
from typing import Optional

from serve_app.cli._output import json_option, show
from serve_app.client import ApiError
from serve_app.local import (LocalRay, home_dir, node_types_config, start_mlflow, start_ui, stop_mlflow, stop_ui,
                             use_client_env, worker_types)
from adapters import list_adapters
from visiontrain.tasks import TASKS
from train_jobs.data.formats import list_formats
from visiontrain.settings import settings as env_settings

__all__ = ["add_parsers", "cmd_up", "login_local_admin"]


def cmd_synth(args) -> int:
    from train_jobs.data import synth

    images, val = args.per_class * args.classes, args.val_fraction or 0.25
    if args.task in ("detection", "instance-segmentation"):
        info = synth.make_detection(args.out, args.classes, images, args.image_size, args.seed, val,
                                    polygons=args.task == "instance-segmentation")
    elif args.task == "segmentation":
        info = synth.make_segmentation(args.out, args.classes, images, args.image_size, args.seed, val)
    elif args.task == "anomaly":
        info = synth.make_anomaly(args.out, args.per_class, max(10, args.per_class // 5), max(10, args.per_class // 5),
                                  args.image_size, args.seed)
    else:
        info = synth.make_classification(args.out, args.classes, args.per_class, args.image_size, args.seed,
                                         args.val_fraction)
    print(json.dumps(info, indent=2, ensure_ascii=False))
    return 0


def cmd_add(args) -> int:
    from train_jobs.config import default_storage_uri
    from train_jobs.data.versions import add_dataset
    from train_jobs.store import open_store

    out = add_dataset(args.path, open_store(args.storage or default_storage_uri()), args.format, args.language)
    print(out["report"]["summary"])
    verb = "stored as" if out["created"] else "already stored as"
    print(f"\n{verb} {out['dataset_id']} ({out['uri']}); use it as dataset.uri: {out['dataset_id']}")
    return 0 if out["report"]["ok"] else 1


def cmd_validate(args) -> int:
    from train_jobs.data.validate import validate_dataset

    report = validate_dataset(os.path.abspath(args.path), args.format, language=args.language)
    show(args, report, lambda r: print(r["summary"]))
    return 0 if report["ok"] else 1


def cmd_up(args) -> int:
    home = home_dir()
    if os.environ.get("MLFLOW_TRACKING_URI"):
        print(f"MLflow: the team's server at {os.environ['MLFLOW_TRACKING_URI']} (MLFLOW_TRACKING_URI)")
    elif args.mlflow_port:  # before Ray: the cluster's processes inherit where to track
        os.environ["MLFLOW_TRACKING_URI"] = start_mlflow(home, args.mlflow_port, args.host)
        print(f"MLflow is up: {os.environ['MLFLOW_TRACKING_URI']} (every job's run; store in {home}/mlflow)")
    ray = LocalRay.load(home)
    if ray and ray.is_up():
        print(f"Ray is already up: dashboard {ray.dashboard_url}")
    else:
        ray = LocalRay(home, gcs_port=args.port, dashboard_port=args.dashboard_port, num_cpus=args.num_cpus,
                       metrics_port=args.metrics_port, autoscaling_config=args.autoscaling_config).start()
        print(f"Ray is up: GCS {ray.gcs_address}, dashboard {ray.dashboard_url} (token in {home}/ray_auth_token), "
              f"Prometheus metrics {ray.metrics_url}")
        if ray.autoscaling_config:
            print(f"autoscaling: worker nodes of {ray.autoscaling_config} are added as jobs ask for them")
    if not args.serve_port:
        return 0
    args.address, args.dashboard_url = ray.gcs_address, ray.dashboard_url
    rc = cmd_serve(args)
    if rc == 0 and args.ui_port:
        api = f"http://{'127.0.0.1' if args.host == '0.0.0.0' else args.host}:{args.serve_port}"
        print(f"UI is up: {start_ui(home, api, args.ui_port, args.host)}")
    return rc


def cmd_serve(args) -> int:
    home = home_dir()
    use_client_env(home)
    import ray  # after the environment is set: Ray reads RAY_AUTH_MODE when it is imported

    from serve_app.app import deploy
    auth = _auth()
    admin = auth.ensure_admin()
    if admin is None and not auth.records.list_users():
        password = secrets.token_urlsafe(12)
        auth.create_user("admin", password, "admin")
        path = os.path.join(home, "admin_password")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        print(f"created the first admin: user 'admin', password in {path} "
              "(or set VISIONTRAIN_ADMIN_USER and VISIONTRAIN_ADMIN_PASSWORD before the first start)")
    # Serve's controller, proxy and replicas inherit this: they run at normal priority, where Ray
    # starts workers at nice 15 and job supervisors at 0. At 15 the API answered in seconds
    # while jobs started on the same machine (bench/load.py: p99 7.6 s, at 0: 1.2 s).
    ray.init(address=args.address, logging_level="ERROR", log_to_driver=False,
             runtime_env={"env_vars": {"RAY_worker_niceness": "0"}})
    try:
        local = LocalRay.load(home)
        dashboard = args.dashboard_url or (local.dashboard_url if local else "http://127.0.0.1:8265")
        settings = {"home": home, "database_url": auth.records.url, "ray_dashboard_url": dashboard}
        if local and local.autoscaling_config:
            settings["worker_types"] = worker_types(node_types_config(local.autoscaling_copy))
        url = deploy(port=args.serve_port, host=args.host, args=settings)
    finally:
        ray.shutdown()
    print(f"API is up: {url} (docs {url}/docs)")
    who = login_local_admin(url, home)
    if who:
        print(f"this CLI is logged in to it as {who} (`visiontrain login` for another user)")
    return 0


def login_local_admin(url: str, home: str) -> Optional[str]:
    """Log the CLI in as the local platform's first admin, when its password is at hand."""
    from serve_app.cli import credentials

    env = env_settings()
    user, password = env.admin_user, env.admin_password
    path = os.path.join(home, "admin_password")
    if not (user and password) and os.path.exists(path):
        with open(path) as f:
            user, password = "admin", f.read().strip()
    if not (user and password):
        return None
    try:
        credentials.login(url, user, password)
    except ApiError:
        return None
    return user


def _auth():
    from serve_app.services.auth import Auth, signing_key
    from serve_app.services.records import Records

    return Auth(Records(), signing_key(home_dir()))


def cmd_users(args) -> int:
    auth = _auth()
    if args.users_command == "list":
        return show(args, auth.records.list_users(), _user_lines)
    if args.users_command in ("disable", "enable"):
        auth.set_disabled(args.username, args.users_command == "disable")
        print(f"{args.username} {args.users_command}d" + (": every token they held no longer works"
                                                          if args.users_command == "disable" else ""))
        return 0
    password = env_settings().new_password or getpass.getpass(f"password for {args.username}: ")
    print(json.dumps(auth.create_user(args.username, password, args.role)))
    return 0


def _user_lines(users: list[dict]) -> None:
    for u in users:
        print(f"{u['username']:<24} {u['role']:<8} {'disabled' if u['disabled'] else ''}".rstrip())


def cmd_parse(args) -> int:
    from serve_app.intent import parse

    history: list = []
    for message in args.message:
        result = parse(message, history)
        print(json.dumps(result.model_dump(), ensure_ascii=False, indent=None if args.compact else 2))
        history.append(result.model_dump())
    return 0 if result.status != "rejected" else 1


def cmd_models(args) -> int:
    from serve_app.services.registry import search_models

    return show(args, search_models(task=args.task, q=args.query, source=args.source, limit=args.limit), _model_lines)


def _model_lines(found: dict) -> None:
    for m in found["models"]:
        params = f"{m['params'] / 1e6:.1f}M" if m.get("params") else "?"
        print(f"{m['source']:<12} {m['name']:<40} {','.join(m['tasks']):<28} {params:>8}  "
              f"{m.get('default_image_size') or '':>4}  {'local weights' if m['pretrained_offline'] else ''}")
    print(f"({len(found['models'])} of {found['total']})")
    if found["suggestions"]:
        print("closest names: " + ", ".join(found["suggestions"]))


def cmd_down(args) -> int:
    if stop_ui(home_dir()):
        print("UI stopped")
    if stop_mlflow(home_dir()):
        print("MLflow stopped")
    ray = LocalRay.load(home_dir())
    if ray is None:
        print("no Ray to stop")
        return 0
    ray.stop()
    print("Ray stopped")
    return 0


def cmd_demo(args) -> int:
    from serve_app.demo import run_demo

    return run_demo(args, cmd_up, login_local_admin)


def add_parsers(sub) -> object:
    """Adds the local commands; returns the ``datasets`` subcommands, which the API commands extend."""
    ds = sub.add_parser("datasets", help="dataset tools").add_subparsers(dest="datasets_command", required=True)
    s = ds.add_parser("synth", help="write a learnable synthetic dataset")
    s.add_argument("--task", default="classification", help="for anomaly, --per-class is the normal training images",
                   choices=["classification", "detection", "segmentation", "instance-segmentation", "anomaly"])
    s.add_argument("--out", required=True)
    s.add_argument("--classes", type=int, default=3)
    s.add_argument("--per-class", type=int, default=100)
    s.add_argument("--image-size", type=int, default=64)
    s.add_argument("--val-fraction", type=float, default=0.0, help="> 0 writes train/ and val/ splits")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(fn=cmd_synth)
    for name, fn, helptext in (("add", cmd_add, "upload a folder or zip/tar as a stored dataset version"),
                               ("validate", cmd_validate, "print a dataset's health report")):
        c = ds.add_parser(name, help=helptext)
        c.add_argument("path")
        c.add_argument("--format", choices=list_formats())
        c.add_argument("--language", choices=["en", "ko"], default="en")
        if name == "add":
            c.add_argument("--storage", help="artifact store (default: $VISIONTRAIN_HOME/artifacts)")
        else:
            json_option(c)
        c.set_defaults(fn=fn)

    up = sub.add_parser("up", help="start the local Ray head")
    up.add_argument("--port", type=int, default=6380)
    up.add_argument("--dashboard-port", type=int, default=8265)
    up.add_argument("--num-cpus", type=int)
    up.add_argument("--metrics-port", type=int, default=8080, help="Ray's Prometheus endpoint (training metrics)")
    up.add_argument("--serve-port", type=int, default=8000, help="the API's port; 0 starts Ray only")
    up.add_argument("--autoscaling-config", type=os.path.abspath,
                    help="a cluster.yaml: worker nodes of its types are added and removed as jobs need them")
    up.add_argument("--host", default="127.0.0.1", help="address the API and the UI listen on")
    up.add_argument("--ui-port", type=int, default=7860, help="the chat UI's port; 0 starts no UI")
    up.add_argument("--mlflow-port", type=int, default=5000, help="an MLflow server on the local store, where every "
                    "job is tracked; 0 starts none (jobs write the store directly); unused when MLFLOW_TRACKING_URI "
                    "is set")
    up.set_defaults(fn=cmd_up)
    sv = sub.add_parser("serve", help="deploy the API (Serve app) to a running Ray cluster")
    sv.add_argument("--address", required=True, help="the cluster's GCS address, HOST:PORT")
    sv.add_argument("--serve-port", type=int, default=8000)
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--dashboard-url", help="the cluster's dashboard (Ray Jobs API); default: the local "
                                            "platform's, else http://127.0.0.1:8265")
    sv.set_defaults(fn=cmd_serve)
    us = sub.add_parser("users", help="accounts of the local platform (in its records database)")
    us_sub = us.add_subparsers(dest="users_command", required=True)
    ul = us_sub.add_parser("list")
    json_option(ul)
    ul.set_defaults(fn=cmd_users)
    ua = us_sub.add_parser("add", help="password from VISIONTRAIN_NEW_PASSWORD or a prompt")
    ua.add_argument("username")
    ua.add_argument("--role", choices=("admin", "user", "viewer"), default="user")
    ua.set_defaults(fn=cmd_users)
    for verb, text in (("disable", "sign the user out everywhere and refuse their logins"),
                       ("enable", "let a disabled user log in again")):
        ud = us_sub.add_parser(verb, help=text)
        ud.add_argument("username")
        ud.set_defaults(fn=cmd_users)
    pa = sub.add_parser("parse", help="what the intent parser makes of one or more messages (a conversation)")
    pa.add_argument("message", nargs="+")
    pa.add_argument("--compact", action="store_true")
    pa.set_defaults(fn=cmd_parse)
    mo = sub.add_parser("models", help="search the model registry")
    mo.add_argument("source", nargs="?", choices=list_adapters())
    mo.add_argument("-q", "--query")
    mo.add_argument("--task", choices=TASKS.names())
    mo.add_argument("--limit", type=int, default=20)
    json_option(mo)
    mo.set_defaults(fn=cmd_models)
    sub.add_parser("down", help="stop what `up` started").set_defaults(fn=cmd_down)

    d = sub.add_parser("demo", help="the main job end to end on the local default")
    d.add_argument("--per-class", type=int, default=3000)
    d.set_defaults(fn=cmd_demo)
    return ds
