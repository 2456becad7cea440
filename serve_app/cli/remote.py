"""The CLI commands that work through the HTTP API (``serve_app.client``): login, whoami, chat,
submit, jobs, compare, status, logs, trials, stop, restart. The same things a browser or a
script can do; every read command takes ``--json``."""
from __future__ import annotations

import getpass
import os
import sys
import time
from typing import Optional

from serve_app.cli import credentials
from serve_app.cli._output import json_option, show
from serve_app.client import Client, metrics_line, prediction_line
from visiontrain.settings import settings as env_settings

__all__ = ["add_parsers", "follow", "print_plan", "print_result"]


def _bar(done: float, total: float, width: int = 24) -> str:
    filled = int(width * done / max(1, total))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def print_event(kind: str, ev: dict, t0: float, last_progress: list) -> None:
    at = f"{ev['time'] - t0:6.1f}s"
    if kind == "telemetry":
        if ev["kind"] == "progress" and ev.get("rank") == 0 and "steps" in ev and time.time() - last_progress[0] > 2:
            last_progress[0] = time.time()
            print(f"{at}    epoch {ev['epoch']} {_bar(ev['step'], ev['steps'])} step {ev['step']}/{int(ev['steps'])} "
                  f"loss {ev['loss']}", flush=True)
        elif ev["kind"] in ("stalled", "recovered"):
            print(f"{at}  {ev['kind']}: {ev.get('message', '')}", flush=True)
    elif ev["kind"] == "state":
        print(f"{at}  {ev['state']:<11} {ev.get('message', '')}", flush=True)
    elif ev["kind"] == "metrics":
        shown = {k: ev[k] for k in ("train_loss", "val_loss", "val_accuracy", "val_miou", "images_per_s") if k in ev}
        print(f"{at}  epoch {ev['epoch']:>3}/{ev['epochs']} {_bar(ev['epoch'], ev['epochs'])} "
              + "  ".join(f"{k} {v}" for k, v in shown.items()), flush=True)
    elif ev["kind"] == "search_started":
        print(f"{at}  search     {ev['trials']} trials, {ev['concurrent']} at a time, ranked by {ev['metric']} "
              f"({ev['mode']}); searching {', '.join(ev['parameters'])}", flush=True)
    elif ev["kind"] == "trial":
        print(f"{at}  trial {ev['trial']:<4} {ev['state']:<13} " + _params(ev.get("params", {})), flush=True)
    elif ev["kind"] == "trial_metrics":
        shown = {k: ev[k] for k in ("val_loss", "val_accuracy", "val_miou") if k in ev}
        print(f"{at}  trial {ev['trial']:<4} epoch {ev['epoch']:>3}/{ev['epochs']} "
              + "  ".join(f"{k} {v}" for k, v in shown.items()), flush=True)
    elif ev["kind"] == "search_done":
        print(f"{at}  best trial {ev['best']}: {_params(ev['params'])} ({ev['metric']} {ev['value']})", flush=True)
    elif ev["kind"] == "worker_failed":
        errors = "; ".join(f"rank {rank}: {error}" for rank, error in ev["errors"].items())
        print(f"{at}  worker lost ({errors}); " + ("restarting from the last complete checkpoint" if ev["restarting"]
                                                   else "no restarts left"), flush=True)
    elif ev["kind"] == "driver_lost":
        print(f"{at}  driver lost: {ev['reason']}; submitted again", flush=True)
    elif ev["kind"] in ("input", "compiled"):
        print(f"{at}  {ev['kind']}: {ev.get('message', '')}", flush=True)
    elif ev["kind"] in ("resumed", "early_stopped", "stop_requested", "checkpoint_skipped"):
        print(f"{at}  {ev['kind']}: " + ", ".join(f"{k} {v}" for k, v in ev.items() if k not in ("time", "kind")))


def _params(params: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in params.items())


def print_trials(results: dict) -> None:
    metric = results["metric"]
    print(f"{'trial':<6} {'state':<14} {'epochs':>6} {metric:>14}  values")
    for r in results["trials"]:
        value = "-" if r[metric] is None else f"{r[metric]:.4f}"
        best = "  <- best" if r["trial"] == results["best"] else ""
        print(f"{r['trial']:<6} {r['state']:<14} {r['epochs']:>6} {value:>14}  {_params(r['params'])}{best}")


def follow(client: Client, job_id: str, language: str = "en") -> dict:
    """Print the job's events until it ends (state messages in ``language``); its last record."""
    t0, last = None, [0.0]
    for kind, ev in client.events(job_id, language=language):
        if kind == "end":
            break
        t0 = t0 or ev["time"]
        print_event(kind, ev, t0, last)
    return client.get(f"/v1/jobs/{job_id}")


def print_result(client: Client, record: dict) -> None:
    print(f"\njob {record['job_id']}: {record['state']} — {record['message']}")
    if record["state"] != "succeeded":
        return
    listing = client.get(f"/v1/jobs/{record['job_id']}/artifacts")
    if "search/results.json" in listing["artifacts"]:
        print_trials(client.get(f"/v1/jobs/{record['job_id']}/trials"))
    metrics = client.get(f"/v1/jobs/{record['job_id']}/artifacts/metrics.json")
    headline = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    if "accuracy" in headline:
        print(f"validation accuracy: {headline['accuracy']:.4f}")
    print("validation metrics: " + ", ".join(f"{k} {v}" for k, v in headline.items()))
    wanted = ["weights/model.pt", "export/model.onnx", "metrics.json", "history.json", "config.yaml",
              *metrics.get("samples", [])]
    print(f"artifacts in {listing['uri']}:")
    for name in (n for n in wanted if n in listing["artifacts"]):
        print(f"  {name:<22} GET /v1/jobs/{record['job_id']}/artifacts/{name}")
    tracking = client.get(f"/v1/jobs/{record['job_id']}/artifacts/tracking.json") \
        if "tracking.json" in listing["artifacts"] else {}
    if tracking.get("mlflow", {}).get("url"):
        print(f"MLflow run: {tracking['mlflow']['url']}")
    if tracking.get("tensorboard", {}).get("logdir"):
        print(f"TensorBoard: tensorboard --logdir {tracking['tensorboard']['logdir']}")


def print_plan(answer: dict) -> None:
    if answer.get("reply") is not None:  # a command on a job, or a question about the plan
        print(answer["reply"])
        return
    result = answer["result"]
    for q in result["questions"]:
        print(f"? {q}")
    if answer.get("plan_problem"):
        print(f"! {answer['plan_problem']}")
    plan = answer.get("plan")
    if not plan:
        return
    cfg, defaults, notes = plan["config"], set(plan["defaults"]), plan.get("notes", {})
    print(f"plan: {cfg['task']} with {cfg['model']['source']}/{cfg['model']['name']} on {cfg['dataset']['uri']}")
    if "model.name" in notes:
        print(f"  model chosen: {notes['model.name']}")
    for section in ("hyperparameters", "resources"):
        for k, v in cfg[section].items():
            path = f"{section}.{k}"
            tag = f"  (default: {notes[path]})" if path in notes else "  (default)" if path in defaults else ""
            print(f"  {path:<32} {v}{tag}")
    if cfg.get("search"):
        s = cfg["search"]
        print(f"  search: {s['num_trials']} trials, {s['max_concurrent_trials']} at a time, scheduler {s['scheduler']}")
        for name, p in s["parameters"].items():
            space = p["values"] if p.get("values") is not None else f"{p['low']:g} .. {p['high']:g}" + (
                " (log)" if p.get("log") else "")
            print(f"    {name:<30} {space}")
    for w in plan.get("warnings", []):
        print(f"! {w}")


def _client(args) -> Client:
    return credentials.api_client(args.api)


def cmd_login(args) -> int:
    user = args.user or env_settings().user or input("user: ")
    password = env_settings().password or getpass.getpass(f"password for {user}: ")
    client = credentials.login(args.api, user, password)
    print(f"logged in to {client.url} as {user} ({client.get('/v1/me')['role']})")
    return 0


def chat_turns(client: Client, messages: list[str], yes: bool = False) -> tuple[Optional[dict], str]:
    """Send ``messages``, then (in a terminal) read more until there is a plan; on confirmation
    submit it. Returns the submitted job's record (None when nothing was submitted) and the
    conversation's language."""
    language = "en"
    session, pending, interactive = None, list(messages), sys.stdin.isatty()
    while pending or interactive:
        message = pending.pop(0) if pending else input("> ").strip()
        if not message:
            continue
        answer = client.chat(message, session)
        session, language = answer["session_id"], answer["result"]["language"]
        print_plan(answer)
        if answer.get("plan") and not pending:
            if yes or (interactive and input("Start training? [y/N] ").strip().lower() in ("y", "yes", "네", "예")):
                return client.post("/v1/jobs", {"session_id": session}), language
    return None, language


def cmd_chat(args) -> int:
    client = _client(args)
    record, language = chat_turns(client, args.message, args.yes)
    if record is None:
        return 1
    print(f"submitted job {record['job_id']}; following it ...")
    record = follow(client, record["job_id"], language)
    print_result(client, record)
    return 0 if record["state"] == "succeeded" else 1


def cmd_submit(args) -> int:
    import yaml

    from train_jobs.config import config_from_dict

    with open(args.config, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    config_from_dict(data, source=args.config)  # the same checks, here, before anything is sent
    client = _client(args)
    record = client.post("/v1/jobs", {"config": data})
    print(f"submitted job {record['job_id']}: {record['state']}, {record['message']}")
    if args.follow:
        record = follow(client, record["job_id"])
        print_result(client, record)
        return 0 if record["state"] == "succeeded" else 1
    return 0


def _job_lines(jobs: list[dict]) -> None:
    for j in jobs:
        print(f"{j['job_id']:<32} {j['owner']:<12} {j['state']:<11} {j['model']:<24} {j['message'][:50]}")


def _status_lines(record: dict) -> None:
    print(f"job {record['job_id']} ({record['owner']}, {record['model']}): {record['state']} — {record['message']}")
    t0 = record["history"][0]["time"] if record.get("history") else 0
    for step in record.get("history", []):
        print(f"  {step['time'] - t0:8.1f}s  {step['state']:<11} {step.get('message', '')}")


def cmd_jobs(args) -> int:
    return show(args, _client(args).get("/v1/jobs"), _job_lines)


def cmd_status(args) -> int:
    return show(args, _client(args).get(f"/v1/jobs/{args.job_id}"), _status_lines)


def cmd_trials(args) -> int:
    return show(args, _client(args).get(f"/v1/jobs/{args.job_id}/trials"), print_trials)


def _compare_lines(table: dict) -> None:
    print(f"{'job':<34} {'model':<28} {'state':<10} {'score':<22} {'time':>8} {'images/s':>9}")
    for r in table["jobs"]:
        score = f"{r['headline']} {r['score']:.4g}" if r["score"] is not None else "-"
        took = f"{r['duration_s']:.0f} s" if r["duration_s"] else "-"
        print(f"{r['job_id']:<34} {r['model']:<28} {r['state']:<10} {score:<22} {took:>8} {r['images_per_s'] or '-':>9}")
    if table["differences"]:
        print("settings that differ:")
        for setting, by_job in table["differences"].items():
            print(f"  {setting:<34} " + " | ".join(str(v) for v in by_job.values()))
    if table["best"]:
        print(f"best: {table['best']}")


def cmd_compare(args) -> int:
    return show(args, _client(args).get("/v1/jobs/compare", ids=",".join(args.job_ids)), _compare_lines)


def cmd_logs(args) -> int:
    client = _client(args)
    if args.follow:
        follow(client, args.job_id)
        return 0
    return show(args, {"job_id": args.job_id, "log": client.text(f"/v1/jobs/{args.job_id}/logs")},
                lambda d: print(d["log"]))


def cmd_whoami(args) -> int:
    client = _client(args)
    return show(args, client.get("/v1/me"), lambda me: print(f"{me['username']} ({me['role']}) at {client.url}"))


def _prediction_lines(answer: dict) -> None:
    for p in answer["predictions"]:
        print(f"{p['image']}: {prediction_line(p)}")


def _batch_line(b: dict) -> str:
    done = f", {b['done']}/{b['total']} images" if "total" in b else ""
    extra = (f", {metrics_line(b['metrics'])}" if b.get("metrics") else "") + (f": {b['message']}" if b.get("message") else "")
    return f"{b['batch_id']} {b['state']}{done}{extra}"


def _predict_dataset(args) -> int:
    seen = None
    for batch in _client(args).predict_batch(args.job_id, args.dataset, follow=args.follow):
        if (line := _batch_line(batch)) != seen:
            print(line, file=sys.stderr if args.json else sys.stdout)
        seen = line
    if batch["state"] == "succeeded" and not args.json:
        print(f"predictions: GET /v1/jobs/{args.job_id}/artifacts/batches/{batch['batch_id']}/predictions.jsonl")
    if args.json:
        show(args, batch, lambda b: None)
    return 1 if batch["state"] == "failed" else 0


def cmd_predict(args) -> int:
    if bool(args.images) == bool(args.dataset):
        print("error: give image files, or --dataset (a dataset id, or an s3:// location) for the whole dataset",
              file=sys.stderr)
        return 2
    if args.dataset:
        return _predict_dataset(args)
    answer = _client(args).predict(args.job_id, args.images, draw=bool(args.draw))
    if args.draw:
        import base64

        os.makedirs(args.draw, exist_ok=True)
        for p in answer["predictions"]:
            with open(os.path.join(args.draw, os.path.splitext(p["image"])[0] + ".predicted.png"), "wb") as f:
                f.write(base64.b64decode(p.pop("drawn")))
    return show(args, answer, _prediction_lines)


def cmd_stop(args) -> int:
    record = _client(args).post(f"/v1/jobs/{args.job_id}/stop")
    print(f"stop requested for {record['job_id']} (was {record['state']})")
    return 0


def cmd_restart(args) -> int:
    record = _client(args).post(f"/v1/jobs/{args.job_id}/restart")
    print(f"{record['job_id']} queued again ({record['state']}): it resumes from its last complete checkpoint")
    return 0


def add_parsers(sub) -> None:
    lg = sub.add_parser("login", help="log in to the API; tokens are kept in $VISIONTRAIN_HOME/credentials.json")
    lg.add_argument("--user", help="default: $VISIONTRAIN_USER, else a prompt (password: $VISIONTRAIN_PASSWORD)")
    lg.set_defaults(fn=cmd_login)
    ch = sub.add_parser("chat", help="describe a model; answer questions; confirm the plan; follow the job")
    ch.add_argument("message", nargs="*", help="first message(s); more are read from the terminal")
    ch.add_argument("--yes", action="store_true", help="start the plan without asking")
    ch.set_defaults(fn=cmd_chat)
    sm = sub.add_parser("submit", help="submit a TrainingConfig YAML")
    sm.add_argument("config")
    sm.add_argument("--follow", action="store_true", help="show progress until the job ends")
    sm.set_defaults(fn=cmd_submit)
    for parser, name, fn, helptext in ((sub, "jobs", cmd_jobs, "list jobs"),
                                       (sub, "whoami", cmd_whoami, "who this CLI is logged in as, and where")):
        c = parser.add_parser(name, help=helptext)
        json_option(c)
        c.set_defaults(fn=fn)
    cp = sub.add_parser("compare", help="jobs side by side: the settings that differ, scores, time, speed")
    cp.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="2 to 10 job ids")
    json_option(cp)
    cp.set_defaults(fn=cmd_compare)
    pr = sub.add_parser("predict", help="a succeeded job's model on your images, or over a whole dataset")
    pr.add_argument("job_id")
    pr.add_argument("images", nargs="*", help="image files (PNG, JPEG)")
    pr.add_argument("--dataset", help="instead of images: every image of this dataset (its id, ds-..., or an s3:// "
                                      "location), as a batch job writing predictions.jsonl into the job's folder")
    pr.add_argument("--follow", action="store_true", help="with --dataset: show its progress until it ends")
    pr.add_argument("--draw", metavar="OUT_DIR", help="also write each image with its prediction drawn, as "
                                                     "OUT_DIR/NAME.predicted.png")
    json_option(pr)
    pr.set_defaults(fn=cmd_predict)
    for name, fn, helptext in (("status", cmd_status, "a job's record and step history"),
                               ("logs", cmd_logs, "a job's driver log"), ("stop", cmd_stop, "stop a job"),
                               ("restart", cmd_restart, "run a failed or stopped job again, from its last checkpoint"),
                               ("trials", cmd_trials, "a hyperparameter search's trials and the best one")):
        c = sub.add_parser(name, help=helptext)
        c.add_argument("job_id")
        if name == "logs":
            c.add_argument("--follow", action="store_true", help="progress as it happens, until the job ends")
        if name not in ("stop", "restart"):
            json_option(c)
        c.set_defaults(fn=fn)
