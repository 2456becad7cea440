"""The evaluation arithmetic of the segmentation and anomaly tasks, on hand-made numbers."""
import numpy as np
import pytest

from train_jobs.tasks.anomaly import anomaly_report
from train_jobs.tasks.semantic import iou_report


def test_iou_report_by_hand():
    cm = np.array([[8, 2, 0],    # true background: 8 right, 2 called circle
                   [1, 3, 0],    # true circle
                   [0, 0, 0]])   # square never present: left out of the mean
    r = iou_report(cm, ["background", "circle", "square"])
    assert r["per_class_iou"] == {"background": round(8 / 11, 4), "circle": round(3 / 6, 4)}
    assert r["miou"] == round((8 / 11 + 3 / 6) / 2, 4)
    assert r["pixel_accuracy"] == round(11 / 14, 4)


def test_anomaly_report_separable_scores():
    scores = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    labels = np.array([0, 0, 0, 1, 1])
    r = anomaly_report(scores, labels, ["good", "good", "good", "scratch", "blot"])
    assert (r["auroc"], r["f1"], r["threshold"]) == (1.0, 1.0, 0.8)
    assert r["per_defect"] == {"blot": {"auroc": 1.0, "recall": 1.0}, "scratch": {"auroc": 1.0, "recall": 1.0}}


def test_anomaly_report_inverted_and_tied_scores():
    labels = np.array([0, 0, 1, 1])
    assert anomaly_report(np.array([0.9, 0.8, 0.1, 0.2]), labels, ["good"] * 2 + ["blot"] * 2)["auroc"] == 0.0
    tied = anomaly_report(np.ones(4), labels, ["good"] * 2 + ["blot"] * 2)
    assert tied["auroc"] == 0.5 and tied["recall"] == 1.0 and tied["precision"] == 0.5


@pytest.mark.parametrize("method", ["autoencoder", "patchcore"])
def test_anomaly_scorers_rank_a_blot_above_normal_images(method, tmp_path):
    """Both methods, fitted in-process on a few normal images, give a blotted image the higher score."""
    import torch
    from PIL import Image, ImageDraw

    from train_jobs.config import config_from_dict
    from train_jobs.data.synth import make_anomaly
    from train_jobs.tasks.anomaly import AutoEncoder, PatchCoreScore, ReconstructionScore, _backbone, _coreset
    from train_jobs.tasks._torch import to_float

    make_anomaly(str(tmp_path), train_images=24, test_good=2, test_defects=2, image_size=48, seed=3)
    cfg = config_from_dict({"task": "anomaly_detection", "model": {"name": "test_resnet"},
                            "dataset": {"uri": str(tmp_path)}, "anomaly": {"method": method}})
    load = lambda p: to_float(torch.from_numpy(np.asarray(Image.open(p).convert("RGB")).copy()).permute(2, 0, 1))  # noqa: E731
    normal = torch.stack([load(p) for p in sorted((tmp_path / "train" / "good").iterdir())])
    blotted = Image.open(tmp_path / "test" / "good" / "000.png").convert("RGB")
    ImageDraw.Draw(blotted).ellipse([18, 18, 28, 28], fill=(250, 20, 20))
    probe = torch.stack([load(tmp_path / "test" / "good" / "001.png"), to_float(
        torch.from_numpy(np.asarray(blotted).copy()).permute(2, 0, 1))])
    torch.manual_seed(0)
    if method == "patchcore":
        scorer = PatchCoreScore(_backbone(cfg).eval(), torch.zeros(1, 1))
        with torch.no_grad():
            scorer.bank = _coreset(scorer.patches(normal).flatten(0, 1), 200)
    else:
        ae = AutoEncoder(_backbone(cfg))
        opt = torch.optim.Adam(ae.parameters(), lr=3e-3)
        for _ in range(60):
            loss = torch.nn.functional.mse_loss(ae(normal), normal)
            opt.zero_grad()
            loss.backward()
            opt.step()
        scorer = ReconstructionScore(ae.eval())
    with torch.no_grad():
        good, bad = scorer(probe).tolist()
    assert bad > good
