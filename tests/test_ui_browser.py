"""The chat UI in a real headless Chromium (Debian's, driven by Playwright) against the local
platform: sign in, upload the generated dataset, ask in Korean or English, answer the question,
confirm, watch the curves update, read the final accuracy, download the ONNX file. Screenshots
of the plan card, the live progress and the result go to test-artifacts/ui/."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time

import httpx
import pytest

from serve_app.local import free_port, start_ui, stop_ui
from train_jobs.data.synth import make_classification

pytestmark = [pytest.mark.ray, pytest.mark.browser]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOTS = os.path.join(ROOT, "test-artifacts", "ui")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]
EPOCHS = 4
EPOCHS_EN = 8  # the English conversation stops the job on the way: room for that
CONVERSATIONS = {
    "en": {"locale": "en-US", "login": "Log in", "epochs": EPOCHS_EN,
           "messages": [f"Train resnet18 to classify 3 kinds of shapes, {EPOCHS_EN} epochs, image size 32, batch size 16",
                        "use the dataset I uploaded"],
           "question": "Which dataset", "plan": "Plan", "epoch": "Epoch", "ready": "Ready to train",
           "health": "3 classes, 180 images", "weights": "Weights: ", "training": "training — 1 worker",
           "succeeded": "succeeded"},
    "ko": {"locale": "ko-KR", "login": "로그인", "epochs": EPOCHS,
           "messages": [f"ResNet18로 도형 3종류 분류해줘, 에폭 {EPOCHS}, 이미지 크기 32, 배치 16",
                        "내가 올린 데이터셋으로 해줘"],
           "question": "데이터셋", "plan": "학습 계획", "epoch": "에폭", "ready": "학습할 수 있습니다",
           "health": "클래스 3개, 이미지 180장", "weights": "가중치: ", "training": "학습 중 — 워커 1개",
           "succeeded": "완료"},
}


@pytest.fixture(scope="module")
def ui_url(api_url, ray_cluster):
    home = tempfile.mkdtemp(prefix="vt-ui-")
    url = start_ui(home, api_url, free_port())
    yield url
    stop_ui(home)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def shapes_archive(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("ui-data")
    make_classification(str(root / "shapes"), num_classes=3, per_class=60, image_size=32, seed=1)
    return shutil.make_archive(str(root / "shapes"), "zip", str(root / "shapes"))


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert shutil.which("chromium"), "the browser tests need Debian's chromium (make test installs it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def users(api_url, admin_token) -> dict:
    admin = {"authorization": f"Bearer {admin_token}"}
    for name in ("uma", "ulla"):
        r = httpx.post(f"{api_url}/v1/users", headers=admin, json={"username": name, "password": f"{name}-password"})
        assert r.status_code in (201, 409), r.text
    return {name: f"{name}-password" for name in ("uma", "ulla")}


# English a Korean page may show: names of things (units, tools, formats, the user's classes and
# dataset, settings' values); identifiers (snake_case, with digits), ids, file names and code are
# not read at all
NAMES = {"CPU", "GPU", "GiB", "ONNX", "onnxruntime", "Ray", "MLflow", "visiontrain", "imagefolder", "px", "True", "False",
         "accuracy", "precision", "recall", "support", "epochs", "seed", "compile", "optimizer", "adamw", "none", "balanced",
         "uploaded", "latest",
         "circle", "square", "triangle", "shapes", "uma", "ulla", "timm", "zip", "tar", "train", "val"}
VISIBLE_TEXT = """() => {
  const out = [];
  const walk = (n) => {
    if (n.nodeType === 3) { out.push(n.textContent); return; }
    if (n.nodeType !== 1 || ["CODE", "PRE", "TEXTAREA", "SCRIPT", "STYLE", "svg", "CANVAS"].includes(n.tagName)) return;
    if (n.classList.contains("cm-editor")) return;
    const style = getComputedStyle(n), box = n.getBoundingClientRect();
    if (style.display === "none" || style.visibility === "hidden") return;
    if (box.width <= 1 && box.height <= 1 && style.position === "absolute") return;  // for screen readers only
    for (const c of n.childNodes) walk(c);
  };
  walk(document.body);
  return out.join(" ");
}"""


def _english_words(page) -> list[str]:
    """Each English word on the page but names, with the text around it."""
    text = re.sub(r"\b[\w.-]+\s*\.(?:zip|png|jpg|onnx|pt|json|jsonl|yaml)\b|\b[a-z_]+-[0-9a-f]{12}\b|ds-[0-9a-f]{64}|\S+/\S+",
                  " ", page.evaluate(VISIBLE_TEXT))
    return sorted({text[max(0, m.start() - 30):m.end() + 30].replace("\n", " ")
                   for m in re.finditer(r"[A-Za-z][A-Za-z0-9_]{2,}", text)
                   if m.group() not in NAMES and not re.search(r"[_0-9]", m.group())})


def _shot(page, name: str) -> None:
    """A screenshot of the page, whose text names no folder of the server (a user sees paths inside
    their dataset, never the platform's own) and, on a Korean page, says nothing in English but names."""
    shown = page.locator("body").inner_text()
    assert not re.search(r"(?<![\w.])/(tmp|root|home|var|etc)/", shown), re.findall(r"\S*/(?:tmp|root|home|var|etc)/\S*", shown)
    assert page.get_by_text("Error", exact=True).count() == 0, f"a component shows Gradio's error badge ({name})"
    if name.startswith("ko-"):
        english = _english_words(page)
        assert english == [], f"English on the Korean page ({name}): {english}"
    page.screenshot(path=os.path.join(SHOTS, name), full_page=True)


def _sign_in(browser, ui_url: str, lang: str, user: str, password: str):
    from playwright.sync_api import expect

    context = browser.new_context(locale=CONVERSATIONS[lang]["locale"], viewport={"width": 1400, "height": 1000},
                                  accept_downloads=True)
    page = context.new_page()
    page.goto(ui_url)
    expect(page.locator("#login")).to_have_text(CONVERSATIONS[lang]["login"], timeout=30_000)  # the UI's own language
    expect(page.locator("#login")).to_be_enabled(timeout=30_000)  # once the page has loaded
    page.locator("#username textarea").fill(user)
    page.locator("#password input").fill(password)
    page.locator("#login").click()
    expect(page.locator("#who")).to_contain_text(user, timeout=30_000)
    return page


def _say_in_the_chat(page, message: str, answer: str) -> None:
    from playwright.sync_api import expect

    page.locator("#message textarea").fill(message)
    page.locator("#send").click()
    expect(page.locator("#chatbot")).to_contain_text(answer, timeout=60_000)


def _stop_and_start_again_in_the_chat(page, status) -> None:
    """While it trains: how it is doing, stop it (the job panel says stopped), start it again (the job
    panel follows it again), all said in the chat."""
    from playwright.sync_api import expect

    _say_in_the_chat(page, "how is it going?", "(timm/resnet18): training")
    _say_in_the_chat(page, "stop it", "Stop requested for")
    expect(status).to_contain_text("stopped", timeout=120_000)
    _say_in_the_chat(page, "start it again", "is queued again")
    _shot(page, "en-chat-restart.png")
    expect(status).to_contain_text("training", timeout=120_000)


def _train_through_the_ui(page, lang: str, archive: str, api_url: str, password: str, user: str,
                          lifecycle: bool = False) -> str:
    from playwright.sync_api import expect

    talk = CONVERSATIONS[lang]
    os.makedirs(SHOTS, exist_ok=True)
    page.locator("#upload input[type=file]").set_input_files(archive)
    expect(page.locator("#dataset-report")).to_contain_text(talk["ready"], timeout=120_000)
    first, answer = talk["messages"]
    page.locator("#message textarea").fill(first)
    page.locator("#send").click()
    expect(page.locator("#chatbot")).to_contain_text(talk["question"], timeout=30_000)  # the platform asks
    assert not page.locator("#confirm").is_visible()  # nothing to confirm before the plan
    page.locator("#message textarea").fill(answer)
    page.locator("#send").click()
    card = page.locator("#plan-card")
    expect(card).to_contain_text(talk["plan"], timeout=30_000)
    expect(card).to_contain_text("timm/resnet18")
    expect(card).to_contain_text(talk["health"])  # the dataset's health summary, in the user's language
    expect(card).to_contain_text(talk["weights"])  # which weights it starts from, or why from scratch
    expect(card).not_to_contain_text("gpus_per_worker")  # a plan without a GPU lists no GPU settings
    _shot(page, f"{lang}-plan.png")

    page.locator("#confirm").click()
    status = page.locator("#job-status")
    epochs = talk["epochs"]
    expect(status).to_contain_text(re.compile(rf"{talk['training']}.*{talk['epoch']} [1-{epochs - 1}]/{epochs}", re.S),
                                   timeout=240_000)  # an epoch on the way
    expect(page.locator("#stop")).to_be_visible()  # while it runs
    _shot(page, f"{lang}-progress.png")
    if lifecycle:
        _stop_and_start_again_in_the_chat(page, status)
    expect(status).to_contain_text(f"{talk['epoch']} {epochs}/{epochs}", timeout=240_000)  # the curves moved on
    result = page.locator("#result")
    expect(result).to_contain_text(talk["succeeded"], timeout=240_000)
    expect(page.locator("#stop")).to_be_hidden()  # nothing left to stop
    _shot(page, f"{lang}-result.png")

    job_id = page.locator("#result code").first.inner_text()
    token = httpx.post(f"{api_url}/v1/auth/login", json={"username": user, "password": password}).json()["access_token"]
    headers = {"authorization": f"Bearer {token}"}
    record = httpx.get(f"{api_url}/v1/jobs/{job_id}", headers=headers).json()
    assert record["state"] == "succeeded" and record["owner"] == user
    expect(result).to_contain_text(f"accuracy: {record['result']['accuracy']:.4f}")
    assert page.locator("#confusion table").is_visible() and page.locator("#rerun-config").is_visible()
    page.locator("#rerun-config").evaluate("e => e.scrollIntoView({block: 'end'})")  # its last lines drawn
    rerun = page.locator("#rerun-config").inner_text()
    assert "epochs:" in rerun and "storage" not in rerun and "owner" not in rerun  # what a user sends again
    _shot(page, f"{lang}-rerun.png")
    expect(page.locator("#samples img").first).to_be_visible()  # validation images with true -> predicted
    expect(page.locator("#samples")).to_contain_text(re.compile(r"(circle|square|triangle) → (circle|square|triangle) [✓✗]"))
    page.locator("#samples").screenshot(path=os.path.join(SHOTS, f"{lang}-samples.png"))
    with page.expect_download() as download:
        page.locator('#downloads a[download="model.onnx"]').click()
    saved = os.path.join(SHOTS, f"{lang}-model.onnx")
    download.value.save_as(saved)
    onnx = httpx.get(f"{api_url}/v1/jobs/{job_id}/artifacts/export/model.onnx", headers=headers).content
    assert open(saved, "rb").read() == onnx and len(onnx) > 1_000_000
    return job_id


def _jobs_listed(page) -> str:
    page.get_by_role("tab", name=page.locator("button[role=tab]").nth(1).inner_text()).click()
    page.locator("#refresh-jobs").click()
    page.wait_for_timeout(2000)
    return page.locator("#jobs-table").inner_text()


def _try_it(page, job_id: str, api_url: str, user: str, password: str, archive: str) -> tuple[list[str], dict]:
    """Images dropped on a succeeded job's "Try it" come back drawn, with the endpoint's answers."""
    import zipfile

    from playwright.sync_api import expect

    folder = os.path.join(os.path.dirname(archive), "try")
    with zipfile.ZipFile(archive) as z:
        names = [n for n in sorted(z.namelist()) if n.endswith(".png")][::60][:2]  # two classes
        z.extractall(folder, names)
    images = [os.path.join(folder, n) for n in names]
    token = httpx.post(f"{api_url}/v1/auth/login", json={"username": user, "password": password}).json()["access_token"]
    r = httpx.post(f"{api_url}/v1/jobs/{job_id}/predict", headers={"authorization": f"Bearer {token}"}, timeout=120,
                   files=[("images", (os.path.basename(p), open(p, "rb").read())) for p in images])
    assert r.status_code == 200, r.text
    want = r.json()
    page.locator("#try-images input[type=file]").set_input_files(images)
    answers = page.locator("#try-answers")
    for p in want["predictions"]:
        best = p["top"][0]
        expect(answers).to_contain_text(f"{p['image']}: {best['class']} {best['score']:.3f}", timeout=60_000)
    expect(page.locator("#try-drawn img")).to_have_count(len(images), timeout=30_000)
    page.locator("#try-drawn").scroll_into_view_if_needed()
    _shot(page, "en-try-it.png")
    return images, want


def _try_in_the_chat(page, job_id: str, images: list[str], want: dict) -> None:
    """"Try it on these images" in the chat, with images attached: the newest job's model answers there."""
    from playwright.sync_api import expect

    page.locator("#chat-images input[type=file]").set_input_files(images)
    for image in images:  # uploaded: each listed with its link
        expect(page.locator(f'#chat-images a[download="{os.path.basename(image)}"]')).to_be_visible(timeout=30_000)
    page.locator("#message textarea").fill("try it on these images")
    page.locator("#send").click()
    chat = page.locator("#chatbot")
    expect(chat).to_contain_text(f"The model of job {job_id} on your images", timeout=60_000)
    for p in want["predictions"]:
        best = p["top"][0]
        expect(chat).to_contain_text(f"{p['image']}: {best['class']} {best['score']:.3f}")
    expect(chat.locator("img")).to_have_count(len(images), timeout=30_000)
    _shot(page, "en-chat-try.png")


def _batch_from_the_jobs_tab(page, job_id: str, api_url: str, user: str, password: str) -> None:
    """The Jobs tab runs the job's model over the uploaded dataset: its progress, then what it found
    and its files, as the API has them."""
    from playwright.sync_api import expect

    page.locator("#open-job-id textarea").fill(job_id)
    page.locator("#batch-start").click()
    status = page.locator("#batch-status")
    expect(status).to_contain_text(re.compile(rf"Batch prediction batch-[0-9a-f]+ of {job_id}"), timeout=60_000)
    expect(status).to_contain_text("succeeded", timeout=300_000)
    token = httpx.post(f"{api_url}/v1/auth/login", json={"username": user, "password": password}).json()["access_token"]
    headers = {"authorization": f"Bearer {token}"}
    [batch] = httpx.get(f"{api_url}/v1/jobs/{job_id}/predict-batch", headers=headers).json()["batches"]
    expect(status).to_contain_text(f"{batch['done']}/{batch['total']} images · on the labelled images: accuracy "
                                   f"{batch['metrics']['accuracy']:.4g}")
    with page.expect_download() as download:
        page.locator('#batch-files a[download="predictions.jsonl"]').click()
    saved = os.path.join(SHOTS, "en-predictions.jsonl")
    download.value.save_as(saved)
    want = httpx.get(f"{api_url}/v1/jobs/{job_id}/artifacts/batches/{batch['batch_id']}/predictions.jsonl",
                     headers=headers).content
    assert open(saved, "rb").read() == want and len(want.splitlines()) == batch["total"]
    _shot(page, "en-batch.png")


def _an_earlier_run(api_url: str, user: str, password: str, archive: str) -> str:
    """A 2-epoch run of the same model on the same data, through the API: the conversation's previous run."""
    token = httpx.post(f"{api_url}/v1/auth/login", json={"username": user, "password": password}).json()["access_token"]
    headers = {"authorization": f"Bearer {token}"}
    with open(archive, "rb") as f:
        assert httpx.post(f"{api_url}/v1/datasets", params={"name": "shapes"}, content=f.read(), timeout=120,
                          headers={**headers, "content-type": "application/zip"}).status_code == 201
    config = {"task": "classification", "model": {"name": "resnet18"}, "dataset": {"uri": "name:shapes"},
              "hyperparameters": {"epochs": 2, "batch_size": 16, "image_size": 32}}
    earlier = httpx.post(f"{api_url}/v1/jobs", headers=headers, json={"config": config}).json()["job_id"]
    for _ in range(300):
        if httpx.get(f"{api_url}/v1/jobs/{earlier}", headers=headers).json()["ended"]:
            return earlier
        time.sleep(1)
    raise AssertionError(f"{earlier} did not end")


def _compare_in_the_chat_and_the_jobs_tab(page, job_id: str, second: str, api_url: str, user: str, password: str) -> None:
    """"Compare it with the previous run" in the chat, then both in the Jobs tab: one table (the setting
    that differs flagged, the best score in bold) and their validation curves overlaid."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Train").click()
    _say_in_the_chat(page, "compare it with the previous run", f"Your 2 jobs side by side (/v1/jobs/compare?ids={job_id},{second})")
    expect(page.locator("#chatbot")).to_contain_text("hyperparameters.epochs: 8 / 2")
    _shot(page, "en-chat-compare.png")
    page.get_by_role("tab", name="Jobs").click()
    token = httpx.post(f"{api_url}/v1/auth/login", json={"username": user, "password": password}).json()["access_token"]
    headers = {"authorization": f"Bearer {token}"}
    table = httpx.get(f"{api_url}/v1/jobs/compare", params={"ids": f"{job_id},{second}"}, headers=headers).json()
    page.locator("#refresh-jobs").click()
    for job in (job_id, second):
        page.locator("#compare-ids input").click()
        page.get_by_role("option", name=job, exact=True).click()
    page.locator("#compare").click()
    view = page.locator("#compare-view")
    expect(view).to_contain_text("⚑ hyperparameters.epochs", timeout=30_000)
    best = next(r for r in table["jobs"] if r["job_id"] == table["best"])
    expect(view.locator("strong").first).to_have_text(f"{best['headline']} {best['score']:.4g}")
    assert second in view.inner_text() and job_id in view.inner_text()
    plot = page.locator("#compare-plot")
    expect(plot).to_be_visible()
    expect(plot).to_contain_text(second)  # the legend: a curve per job
    plot.scroll_into_view_if_needed()
    _shot(page, "en-compare.png")


def test_english_conversation_to_onnx_and_a_second_user_sees_none_of_it(browser, ui_url, api_url, users,
                                                                        shapes_archive):
    earlier = _an_earlier_run(api_url, "uma", users["uma"], shapes_archive)
    page = _sign_in(browser, ui_url, "en", "uma", users["uma"])
    job_id = _train_through_the_ui(page, "en", shapes_archive, api_url, users["uma"], "uma", lifecycle=True)
    _try_in_the_chat(page, job_id, *_try_it(page, job_id, api_url, "uma", users["uma"], shapes_archive))
    assert job_id in _jobs_listed(page)
    _batch_from_the_jobs_tab(page, job_id, api_url, "uma", users["uma"])
    _compare_in_the_chat_and_the_jobs_tab(page, job_id, earlier, api_url, "uma", users["uma"])
    other = _sign_in(browser, ui_url, "en", "ulla", users["ulla"])
    assert job_id not in _jobs_listed(other)
    other.locator("#open-job-id textarea").fill(job_id)  # asking for it by id gets a sentence, no data
    other.locator("#open-job").click()
    from playwright.sync_api import expect

    expect(other.locator("#errors")).to_contain_text(f"no job {job_id} of yours", timeout=30_000)
    assert "Traceback" not in other.content()
    page.context.close()
    other.context.close()


def test_korean_conversation_to_onnx(browser, ui_url, api_url, users, shapes_archive):
    page = _sign_in(browser, ui_url, "ko", "ulla", users["ulla"])
    job_id = _train_through_the_ui(page, "ko", shapes_archive, api_url, users["ulla"], "ulla")
    listed = _jobs_listed(page)
    assert job_id in listed and "완료" in listed and "상태" in listed  # states and headings in Korean too
    _shot(page, "ko-jobs.png")
    page.context.close()


def test_the_model_menu_offers_the_tasks_the_platform_names(browser, ui_url, api_url, users):
    from playwright.sync_api import expect

    tasks = httpx.get(f"{api_url}/v1/vocabulary").json()["tasks"]
    page = _sign_in(browser, ui_url, "en", "uma", users["uma"])
    page.get_by_role("tab", name="Model zoo").click()
    page.locator("#model-task input").click()
    options = page.locator("[role=option]")
    expect(options.last).to_be_visible(timeout=10_000)
    offered = [t.replace("✓", "").strip() for t in options.all_inner_texts()]  # ✓ marks the chosen one
    assert [t for t in offered if t] == tasks
    page.context.close()


def test_the_dataset_manager_lists_opens_draws_and_deletes(browser, ui_url, api_url, admin_token, tmp_path):
    """Two datasets (CVAT's VOC and COCO exports): the Datasets tab lists both, opens one with its images and
    boxes drawn (screenshot en-datasets.png), shows one class's images, and deletes the other."""
    from playwright.sync_api import expect

    from test_exports import cvat_coco_export, cvat_voc_export

    from tests.conftest import signed_up

    headers = signed_up(api_url, admin_token, "dana")
    ids = {}
    for name, make in (("site-a", cvat_voc_export), ("site-b", cvat_coco_export)):
        archive = shutil.make_archive(str(tmp_path / name), "zip", make(str(tmp_path / name)))
        with open(archive, "rb") as f:
            up = httpx.post(f"{api_url}/v1/datasets", params={"name": name}, content=f.read(), timeout=120,
                            headers={**headers, "content-type": "application/zip"})
        assert up.status_code == 201, up.text
        ids[name] = up.json()["dataset_id"]

    page = _sign_in(browser, ui_url, "en", "dana", "dana-password")
    page.get_by_role("tab", name="Datasets").click()
    page.locator("#refresh-datasets").click()
    table = page.locator("#datasets-table")
    expect(table).to_contain_text("site-a", timeout=30_000)
    expect(table).to_contain_text("site-b")
    assert "voc" in table.inner_text() and "coco" in table.inner_text() and "ready" in table.inner_text()

    def choose(box: str, text: str) -> None:
        page.locator(f"{box} input").click()
        page.get_by_role("option", name=text).click()

    choose("#dataset-pick", f"site-a · voc · {ids['site-a'][:11]}")
    gallery = page.locator("#dataset-gallery img")
    expect(gallery).to_have_count(4, timeout=30_000)
    expect(page.locator("#dataset-health")).to_contain_text("voc dataset, 2 classes, 4 images")
    first = httpx.get(gallery.first.get_attribute("src"), timeout=30)
    from PIL import Image
    import io
    import numpy as np

    pixels = np.asarray(Image.open(io.BytesIO(first.content)).convert("RGB")).astype(int)
    assert (np.abs(pixels - [255, 32, 32]).sum(axis=2) < 10).sum() > 100  # its boxes, drawn in red
    _shot(page, "en-datasets.png")

    choose("#dataset-class", "helmet")
    expect(page.locator("#dataset-gallery")).to_contain_text("helmet", timeout=30_000)

    choose("#dataset-pick", f"site-b · coco · {ids['site-b'][:11]}")
    expect(page.locator("#dataset-health")).to_contain_text("coco dataset", timeout=30_000)
    page.locator("#dataset-delete").click()
    expect(page.locator("#dataset-status")).to_contain_text(f"Deleted {ids['site-b']}", timeout=30_000)
    expect(table).not_to_contain_text("site-b")
    assert [d["name"] for d in httpx.get(f"{api_url}/v1/datasets", headers=headers).json()] == ["site-a"]
    page.context.close()
