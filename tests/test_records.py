from serve_app.services.records import Records


def _job(job_id, owner="alice"):
    return dict(job_id=job_id, owner=owner, task="classification", model="timm/resnet18",
                config_uri=f"/a/jobs/{job_id}/config.yaml", folder_uri=f"/a/jobs/{job_id}")


def test_jobs_survive_a_new_connection(tmp_path):
    url = f"sqlite:///{tmp_path}/records.db"
    r = Records(url)
    r.add_job(**_job("j1"))
    r.add_job(**_job("j2", owner="bob"))
    r.update_job("j1", state="succeeded", result={"accuracy": 0.97}, ray_job_id="raysubmit_1")
    again = Records(url)  # as after a restart
    j1 = again.get_job("j1")
    assert j1["state"] == "succeeded" and j1["result"] == {"accuracy": 0.97} and j1["ray_job_id"] == "raysubmit_1"
    assert [j["job_id"] for j in again.list_jobs(owner="bob")] == ["j2"]
    assert {j["job_id"] for j in again.list_jobs()} == {"j1", "j2"}
    assert again.get_job("nope") is None


def test_url_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONTRAIN_DATABASE_URL", f"sqlite:///{tmp_path}/other.db")
    Records().add_job(**_job("j3"))
    assert (tmp_path / "other.db").exists()


def test_of_two_processes_claiming_a_queued_job_one_gets_it(tmp_path):
    url = f"sqlite:///{tmp_path}/records.db"
    first, second = Records(url), Records(url)
    first.add_job(**_job("j4"))
    expected = {"state": "pending", "ray_job_id": None, "submissions": 0}
    assert first.update_job_if("j4", expected, submissions=1)
    assert not second.update_job_if("j4", expected, submissions=1)
    assert second.get_job("j4")["submissions"] == 1
    assert second.update_job_if("j4", {"submissions": 1}, ray_job_id="raysubmit_4")
    assert not first.update_job_if("j4", {"ray_job_id": None}, state="stopped")  # it started meanwhile
    assert first.get_job("j4")["state"] == "pending"


def test_a_conversation_keeps_its_job_and_an_earlier_database_gains_the_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # chat_sessions as an earlier version made it, with a conversation in it
        db.execute("CREATE TABLE chat_sessions (session_id VARCHAR(64) PRIMARY KEY, owner VARCHAR(64) NOT NULL, "
                   "history JSON NOT NULL, plan JSON, updated_at FLOAT NOT NULL)")
        db.execute("INSERT INTO chat_sessions VALUES ('s1', 'ann', '[\"hi\"]', NULL, 1e12)")
    records = Records(f"sqlite:///{path}")
    assert records.get_chat("s1")["history"] == ["hi"] and records.get_chat("s1")["job_id"] is None
    records.save_chat("s1", "ann", ["hi", "go"], None, job_id="job-1")
    records.save_chat("s1", "ann", ["hi", "go", "why?"], None)  # a turn about no job keeps the one it has
    assert records.get_chat("s1")["job_id"] == "job-1" and records.get_chat("s1")["history"][-1] == "why?"
