"""What the health report can find: each finding's severity (what it means and what to do, in each
language, is in the platform's catalogue: ``finding.<code>`` in visiontrain/messages.py)."""
from __future__ import annotations

from dataclasses import dataclass

from visiontrain.messages import say

__all__ = ["CATALOGUE", "FindingKind", "render_summary"]


@dataclass(frozen=True)
class FindingKind:
    code: str
    severity: str  # "error": the job cannot train; "warning": it can

    def said(self, language: str = "en") -> str:
        return say(f"finding.{self.code}", language)


CATALOGUE: dict[str, FindingKind] = {
    "no_images": FindingKind("no_images", "error"),
    "empty_split": FindingKind("empty_split", "error"),
    "corrupt_image": FindingKind("corrupt_image", "error"),
    "image_too_large": FindingKind("image_too_large", "error"),
    "class_id_out_of_range": FindingKind("class_id_out_of_range", "error"),
    "box_out_of_range": FindingKind("box_out_of_range", "error"),
    "degenerate_box": FindingKind("degenerate_box", "error"),
    "bad_label_line": FindingKind("bad_label_line", "error"),
    "class_names_mismatch": FindingKind("class_names_mismatch", "error"),
    "class_names_differ_between_files": FindingKind("class_names_differ_between_files", "error"),
    "unknown_class_name": FindingKind("unknown_class_name", "error"),
    "missing_mask": FindingKind("missing_mask", "error"),
    "mask_size_mismatch": FindingKind("mask_size_mismatch", "error"),
    "mask_not_class_ids": FindingKind("mask_not_class_ids", "error"),
    "anomaly_in_train": FindingKind("anomaly_in_train", "error"),
    "class_without_images": FindingKind("class_without_images", "error"),
    "task_mismatch": FindingKind("task_mismatch", "error"),
    "few_images_per_class": FindingKind("few_images_per_class", "warning"),
    "class_imbalance": FindingKind("class_imbalance", "warning"),
    "images_without_labels": FindingKind("images_without_labels", "warning"),
    "empty_label_file": FindingKind("empty_label_file", "warning"),
    "duplicate_images": FindingKind("duplicate_images", "warning"),
    "train_val_leakage": FindingKind("train_val_leakage", "warning"),
    "no_val_split": FindingKind("no_val_split", "warning"),
    "unknown_class_folder": FindingKind("unknown_class_folder", "warning"),
    "file_outside_class_folder": FindingKind("file_outside_class_folder", "warning"),
    "files_dropped": FindingKind("files_dropped", "warning"),
    "annotation_without_image": FindingKind("annotation_without_image", "warning"),
    "download_ignored": FindingKind("download_ignored", "warning"),
    "crowd_ignored": FindingKind("crowd_ignored", "warning"),
    "difficult_ignored": FindingKind("difficult_ignored", "warning"),
    "near_duplicates": FindingKind("near_duplicates", "warning"),
    "extreme_aspect_ratio": FindingKind("extreme_aspect_ratio", "warning"),
    "tiny_boxes": FindingKind("tiny_boxes", "warning"),
    "conflicting_labels": FindingKind("conflicting_labels", "warning"),
    "duplicate_boxes": FindingKind("duplicate_boxes", "warning"),
}


def render_summary(report: dict, language: str = "en") -> str:
    splits = " / ".join(f"{s} {n}" for s, n in sorted(report["images_per_split"].items()))
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    warnings = [f for f in report["findings"] if f["severity"] == "warning"]
    verdict = say("report.errors", language, n=len(errors)) if errors else \
        say("report.ready", language) + (say("report.warnings", language, n=len(warnings)) if warnings else "")
    lines = [say("report.head", language, format=report["format"], classes=len(report["class_names"]),
                 images=report["images"], splits=splits), verdict]
    modes = report.get("image_modes") or {}
    if set(modes) - {"RGB"}:
        lines.insert(1, say("report.modes", language, modes=", ".join(f"{m} {n}" for m, n in modes.items())))
    for f in errors + warnings:
        tag = say("report.error" if f["severity"] == "error" else "report.warning", language)
        message = CATALOGUE[f["code"]].said(language) if f["code"] in CATALOGUE else f["message"]
        examples = say("report.examples", language, examples=", ".join(f["examples"][:3])) if f["examples"] else ""
        lines.append(f"- [{tag}] {f['count']}x {message}{examples}")
    return "\n".join(lines)
