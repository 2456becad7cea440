"""What the health report can find: severity, and what it means and what to do, in English and Korean."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATALOGUE", "FindingKind", "render_summary"]


@dataclass(frozen=True)
class FindingKind:
    severity: str  # "error": the job cannot train; "warning": it can
    en: str
    ko: str


CATALOGUE: dict[str, FindingKind] = {
    "no_images": FindingKind("error", "no images found; upload images in the layout of the format",
                             "이미지를 찾지 못했습니다. 형식에 맞는 구조로 이미지를 올려 주세요"),
    "empty_split": FindingKind("error", "a split has no images; add images or remove the split from the dataset",
                               "이미지가 없는 분할(split)이 있습니다. 이미지를 추가하거나 분할을 제거하세요"),
    "corrupt_image": FindingKind("error", "unreadable or truncated images; re-export or remove them",
                                 "읽을 수 없거나 잘린 이미지가 있습니다. 다시 저장하거나 삭제하세요"),
    "image_too_large": FindingKind("error", "images above the pixel or file-size limit (possible decompression bombs); resize them",
                                   "픽셀 또는 파일 크기 제한을 넘는 이미지가 있습니다(압축 폭탄 가능성). 크기를 줄이세요"),
    "class_id_out_of_range": FindingKind("error", "labels use class ids outside the class list; fix the ids or add the classes",
                                         "클래스 목록 밖의 클래스 ID를 쓰는 라벨이 있습니다. ID를 고치거나 클래스를 추가하세요"),
    "box_out_of_range": FindingKind("error", "boxes extend outside the image; clip or fix them",
                                    "이미지 밖으로 나가는 박스가 있습니다. 잘라내거나 고치세요"),
    "degenerate_box": FindingKind("error", "boxes with zero or negative width/height; remove or fix them",
                                  "너비나 높이가 0 이하인 박스가 있습니다. 삭제하거나 고치세요"),
    "bad_label_line": FindingKind("error", "label lines that cannot be parsed (YOLO: 'class cx cy w h')",
                                  "해석할 수 없는 라벨 줄이 있습니다(YOLO: 'class cx cy w h')"),
    "class_names_mismatch": FindingKind("error", "the dataset's classes differ from the config's class_names; make them agree",
                                        "데이터셋의 클래스와 설정의 class_names가 다릅니다. 일치시키세요"),
    "class_names_differ_between_files": FindingKind("error", "annotation files disagree on the class list; use one category list",
                                                    "어노테이션 파일마다 클래스 목록이 다릅니다. 하나로 맞추세요"),
    "unknown_class_name": FindingKind("error", "objects are labelled with names not in the class list",
                                      "클래스 목록에 없는 이름으로 라벨된 객체가 있습니다"),
    "missing_mask": FindingKind("error", "images without a mask of the same name in masks/",
                                "masks/에 같은 이름의 마스크가 없는 이미지가 있습니다"),
    "mask_size_mismatch": FindingKind("error", "masks whose size differs from their image; re-export them at the image size",
                                      "이미지와 크기가 다른 마스크가 있습니다. 이미지 크기로 다시 저장하세요"),
    "mask_not_class_ids": FindingKind("error", "masks that are not single-channel class-id images (mode L or P)",
                                      "클래스 ID를 담은 단일 채널(L 또는 P) 이미지가 아닌 마스크가 있습니다"),
    "anomaly_in_train": FindingKind("error", "train/ holds folders other than good/; anomaly training uses normal images only",
                                    "train/에 good/ 외의 폴더가 있습니다. 이상 탐지 학습에는 정상 이미지만 씁니다"),
    "class_without_images": FindingKind("error", "classes with no training images; add images or drop the class",
                                        "학습 이미지가 없는 클래스가 있습니다. 이미지를 추가하거나 클래스를 빼세요"),
    "task_mismatch": FindingKind("error", "the dataset's format does not fit the requested task",
                                 "데이터셋 형식이 요청한 작업과 맞지 않습니다"),
    "few_images_per_class": FindingKind("warning", "classes with very few images; expect poor accuracy, add more",
                                        "이미지가 매우 적은 클래스가 있습니다. 정확도가 낮을 수 있으니 더 추가하세요"),
    "class_imbalance": FindingKind("warning", "the largest class has over 10x the images of the smallest; consider balancing",
                                   "가장 큰 클래스가 가장 작은 클래스의 10배가 넘습니다. 균형을 고려하세요"),
    "images_without_labels": FindingKind("warning", "images without a label file (trained as background)",
                                         "라벨 파일이 없는 이미지가 있습니다(배경으로 학습됩니다)"),
    "empty_label_file": FindingKind("warning", "empty label files (trained as background)",
                                    "비어 있는 라벨 파일이 있습니다(배경으로 학습됩니다)"),
    "duplicate_images": FindingKind("warning", "identical images (same bytes) appear more than once",
                                    "내용이 똑같은 이미지가 여러 번 있습니다"),
    "train_val_leakage": FindingKind("warning", "identical images in both train and val inflate validation scores; remove them from one side",
                                     "train과 val에 같은 이미지가 있어 검증 점수가 부풀려집니다. 한쪽에서 빼세요"),
    "no_val_split": FindingKind("warning", "no validation split; one will be held out from train",
                                "검증 분할이 없어 학습 데이터에서 일부를 떼어 씁니다"),
    "unknown_class_folder": FindingKind("warning", "folders in val/ that are not classes in train/ are ignored",
                                        "train/에 없는 클래스 폴더가 val/에 있어 무시됩니다"),
    "file_outside_class_folder": FindingKind("warning", "files outside any class folder are ignored",
                                             "클래스 폴더 밖의 파일은 무시됩니다"),
    "files_dropped": FindingKind("warning", "files that are not images, labels or dataset metadata were not kept "
                                 "(a dataset stores nothing else: no caches, weights, scripts or hidden files)",
                                 "이미지, 라벨, 데이터셋 메타데이터가 아닌 파일은 저장하지 않았습니다"
                                 "(캐시, 가중치, 스크립트, 숨김 파일은 보관하지 않습니다)"),
    "annotation_without_image": FindingKind("warning", "annotations that point to no listed image are ignored",
                                            "목록에 없는 이미지를 가리키는 어노테이션은 무시됩니다"),
}


def render_summary(report: dict, language: str = "en") -> str:
    ko = language == "ko"
    split_text = " / ".join(f"{s} {n}" for s, n in sorted(report["images_per_split"].items()))
    head = (f"{report['format']} 형식, 클래스 {len(report['class_names'])}개, 이미지 {report['images']}장 ({split_text})."
            if ko else
            f"{report['format']} dataset, {len(report['class_names'])} classes, {report['images']} images ({split_text}).")
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    warnings = [f for f in report["findings"] if f["severity"] == "warning"]
    if ko:
        verdict = (f"오류 {len(errors)}건: 학습할 수 없습니다." if errors
                   else "학습할 수 있습니다." + (f" 경고 {len(warnings)}건." if warnings else ""))
    else:
        verdict = (f"{len(errors)} error(s): the job cannot train on it." if errors
                   else "Ready to train." + (f" {len(warnings)} warning(s)." if warnings else ""))
    lines = [head, verdict]
    for f in errors + warnings:
        tag = ("오류" if f["severity"] == "error" else "경고") if ko else f["severity"]
        ex = f"; {'예' if ko else 'e.g.'} {', '.join(f['examples'][:3])}" if f["examples"] else ""
        lines.append(f"- [{tag}] {f['count']}x {f['message_ko' if ko else 'message']}{ex}")
    return "\n".join(lines)
