"""Every sentence the platform writes for people, in each language it speaks: the chat's questions,
the plan's notes, a job's progress, and the names of tasks and job states. One catalogue, read by the
parser, the planner, the job driver and the API (which renders a job's messages in the language a
client asks for); the UI and the CLI get its words over HTTP (``GET /v1/vocabulary``).

Writers of a job's progress store the message's key and values beside its English text
(:func:`said`), so that any reader can say it again in another language."""
from __future__ import annotations

from typing import Any

__all__ = ["LANGUAGES", "MESSAGES", "in_language", "said", "say", "words"]

LANGUAGES = ("en", "ko")

MESSAGES: dict[str, dict[str, str]] = {
    # names, shown wherever a task or a job state is
    "task.classification": {"en": "classification", "ko": "분류"},
    "task.detection": {"en": "detection", "ko": "객체 검출"},
    "task.segmentation": {"en": "segmentation", "ko": "분할"},
    "task.anomaly_detection": {"en": "anomaly detection", "ko": "이상 탐지"},
    "state.pending": {"en": "pending", "ko": "대기 중"},
    "state.validating": {"en": "validating", "ko": "데이터 확인 중"},
    "state.preparing": {"en": "preparing", "ko": "준비 중"},
    "state.training": {"en": "training", "ko": "학습 중"},
    "state.evaluating": {"en": "evaluating", "ko": "평가 중"},
    "state.exporting": {"en": "exporting", "ko": "내보내는 중"},
    "state.succeeded": {"en": "succeeded", "ko": "완료"},
    "state.failed": {"en": "failed", "ko": "실패"},
    "state.stopped": {"en": "stopped", "ko": "중지됨"},
    # the chat's questions and refusals
    "ask.dataset": {
        "ko": "학습에 사용할 데이터셋을 업로드하거나 위치(s3:// 주소, 폴더 경로 또는 데이터셋 ID)를 알려주세요.",
        "en": "Which dataset should I train on? Upload one, or give its location (an s3:// URI, a folder path or a "
              "dataset id).",
    },
    "ask.task": {
        "ko": "어떤 작업을 원하시나요? 분류, 객체 검출, 분할(세그멘테이션), 이상 탐지 중에서 알려주세요.",
        "en": "What should the model do: classification, object detection, segmentation or anomaly detection?",
    },
    "ask.model_unknown": {
        "ko": "'{detail}' 모델은 등록되어 있지 않습니다. 가까운 이름: {suggestions}. 어떤 모델을 쓸까요?",
        "en": "There is no model called '{detail}'. Closest names: {suggestions}. Which one should I use?",
    },
    "ask.model_task": {
        "ko": "{detail} 모델은 {task} 작업을 지원하지 않습니다. {task}에 맞는 모델(예: {suggestions})을 고르거나 작업을 바꿔 주세요.",
        "en": "{detail} does not do {task}. Pick a model for {task} (for example {suggestions}), or change the task.",
    },
    "ask.out_of_range": {
        "ko": "{detail} 값이 허용 범위({suggestions}) 밖입니다. 범위 안의 값을 알려주세요.",
        "en": "{detail} is outside the allowed range ({suggestions}). Please give a value in that range.",
    },
    "ask.not_whole": {"ko": "{detail}: 정수로 알려주세요.", "en": "{detail}: this needs a whole number."},
    "ask.url_unsupported": {
        "ko": "웹 주소({detail})에서는 데이터를 내려받을 수 없습니다. 파일을 업로드하거나 s3:// 주소를 알려주세요.",
        "en": "I can't download datasets from web addresses ({detail}). Upload the files, or give an s3:// URI.",
    },
    "ask.path_unsafe": {
        "ko": "'..'이 들어간 경로({detail})는 사용할 수 없습니다. 절대 경로나 업로드한 데이터셋 ID를 알려주세요.",
        "en": "Paths with '..' ({detail}) are not allowed. Give an absolute path or the id of an uploaded dataset.",
    },
    "ask.rejected": {
        "ko": "저는 이미지 모델 학습(분류, 객체 검출, 분할, 이상 탐지)만 도와드릴 수 있어요. 이미지로 무엇을 학습시키고 싶은지 알려주세요.",
        "en": "I can only set up training of vision models (classification, detection, segmentation, anomaly "
              "detection). Tell me what you want a model to recognise in your images.",
    },
    "ask.rejected_injection": {
        "ko": "메시지 안의 지시나 명령은 실행하지 않습니다. 저는 이미지 모델 학습 계획만 만들 수 있어요.",
        "en": "I don't follow instructions or run commands from messages; I only turn vision-training requests into "
              "a plan.",
    },
    # the dataset health report: its summary, and what each finding means and what to do
    "report.head": {"en": "{format} dataset, {classes} classes, {images} images ({splits}).",
                    "ko": "{format} 형식, 클래스 {classes}개, 이미지 {images}장 ({splits})."},
    "report.errors": {"en": "{n} error(s): the job cannot train on it.", "ko": "오류 {n}건: 학습할 수 없습니다."},
    "report.ready": {"en": "Ready to train.", "ko": "학습할 수 있습니다."},
    "report.modes": {"en": "Image modes (each read as RGB): {modes}.", "ko": "이미지 모드 (모두 RGB로 읽음): {modes}."},
    "report.warnings": {"en": " {n} warning(s).", "ko": " 경고 {n}건."},
    "report.error": {"en": "error", "ko": "오류"},
    "report.warning": {"en": "warning", "ko": "경고"},
    "report.examples": {"en": "; e.g. {examples}", "ko": "; 예 {examples}"},
    "finding.no_images": {"en": 'no images found; upload images in the layout of the format',
                         "ko": '이미지를 찾지 못했습니다. 형식에 맞는 구조로 이미지를 올려 주세요'},
    "finding.empty_split": {"en": 'a split has no images; add images or remove the split from the dataset',
                           "ko": '이미지가 없는 분할(split)이 있습니다. 이미지를 추가하거나 분할을 제거하세요'},
    "finding.corrupt_image": {"en": 'unreadable or truncated images; re-export or remove them',
                             "ko": '읽을 수 없거나 잘린 이미지가 있습니다. 다시 저장하거나 삭제하세요'},
    "finding.image_too_large": {"en": 'images above the pixel or file-size limit (possible decompression bombs); resize them',
                               "ko": '픽셀 또는 파일 크기 제한을 넘는 이미지가 있습니다(압축 폭탄 가능성). 크기를 줄이세요'},
    "finding.class_id_out_of_range": {"en": 'labels use class ids outside the class list; fix the ids or add the classes',
                                     "ko": '클래스 목록 밖의 클래스 ID를 쓰는 라벨이 있습니다. ID를 고치거나 클래스를 추가하세요'},
    "finding.box_out_of_range": {"en": 'boxes extend outside the image; clip or fix them',
                                "ko": '이미지 밖으로 나가는 박스가 있습니다. 잘라내거나 고치세요'},
    "finding.degenerate_box": {"en": 'boxes with zero or negative width/height; remove or fix them',
                              "ko": '너비나 높이가 0 이하인 박스가 있습니다. 삭제하거나 고치세요'},
    "finding.bad_label_line": {"en": "label lines that cannot be parsed (YOLO: 'class cx cy w h')",
                              "ko": "해석할 수 없는 라벨 줄이 있습니다(YOLO: 'class cx cy w h')"},
    "finding.class_names_mismatch": {"en": "the dataset's classes differ from the config's class_names; make them agree",
                                    "ko": '데이터셋의 클래스와 설정의 class_names가 다릅니다. 일치시키세요'},
    "finding.class_names_differ_between_files": {"en": 'annotation files disagree on the class list; use one category list',
                                                "ko": '어노테이션 파일마다 클래스 목록이 다릅니다. 하나로 맞추세요'},
    "finding.unknown_class_name": {"en": 'objects are labelled with names not in the class list',
                                  "ko": '클래스 목록에 없는 이름으로 라벨된 객체가 있습니다'},
    "finding.missing_mask": {"en": 'images without a mask of the same name in masks/',
                            "ko": 'masks/에 같은 이름의 마스크가 없는 이미지가 있습니다'},
    "finding.mask_size_mismatch": {"en": 'masks whose size differs from their image; re-export them at the image size',
                                  "ko": '이미지와 크기가 다른 마스크가 있습니다. 이미지 크기로 다시 저장하세요'},
    "finding.mask_not_class_ids": {"en": 'masks that are not single-channel class-id images (mode L or P)',
                                  "ko": '클래스 ID를 담은 단일 채널(L 또는 P) 이미지가 아닌 마스크가 있습니다'},
    "finding.anomaly_in_train": {"en": 'train/ holds folders other than good/; anomaly training uses normal images only',
                                "ko": 'train/에 good/ 외의 폴더가 있습니다. 이상 탐지 학습에는 정상 이미지만 씁니다'},
    "finding.class_without_images": {"en": 'classes with no training images; add images or drop the class',
                                    "ko": '학습 이미지가 없는 클래스가 있습니다. 이미지를 추가하거나 클래스를 빼세요'},
    "finding.task_mismatch": {"en": "the dataset's format does not fit the requested task",
                             "ko": '데이터셋 형식이 요청한 작업과 맞지 않습니다'},
    "finding.few_images_per_class": {"en": 'classes with very few images; expect poor accuracy, add more',
                                    "ko": '이미지가 매우 적은 클래스가 있습니다. 정확도가 낮을 수 있으니 더 추가하세요'},
    "finding.class_imbalance": {"en": "the largest class has over 10x the images of the smallest; a classification "
                                      "plan weighs each class by its share (class_weights: balanced), otherwise add "
                                      "images of the rare classes",
                               "ko": "가장 큰 클래스가 가장 작은 클래스의 10배가 넘습니다. 분류 학습 계획은 클래스별 가중치"
                                     "(class_weights: balanced)를 두고, 그 밖에는 드문 클래스의 이미지를 더하세요"},
    "finding.near_duplicates": {"en": "images that look the same (resized, re-encoded or slightly edited copies); "
                                      "across splits they inflate the validation score",
                                "ko": "거의 같은 이미지(크기·압축만 다르거나 살짝 고친 사본)가 있습니다. 분할을 넘나들면 "
                                      "검증 점수가 부풀려집니다"},
    "finding.extreme_aspect_ratio": {"en": "images over 4 times as wide as high (or high as wide); resizing them to "
                                           "a square distorts them: crop or tile them",
                                     "ko": "가로세로 비가 4배를 넘는 이미지가 있습니다. 정사각형으로 줄이면 찌그러지니 "
                                           "잘라 쓰거나 나눠 쓰세요"},
    "finding.conflicting_labels": {"en": "the same image is labelled as different classes: at least one label is "
                                         "wrong; keep the right one",
                                   "ko": "같은 이미지가 서로 다른 클래스로 라벨링되어 있습니다. 적어도 하나는 틀렸으니 맞는 "
                                         "것만 남기세요"},
    "finding.duplicate_boxes": {"en": "boxes of one class drawn over each other (IoU 0.9 or more): one object "
                                      "labelled twice; remove the copy",
                                "ko": "같은 클래스의 박스가 거의 겹쳐(IoU 0.9 이상) 한 객체가 두 번 라벨링되었습니다. "
                                      "중복을 지우세요"},
    "finding.tiny_boxes": {"en": "boxes under 1% of the image's side (or 4 px): they may vanish when the image is "
                                 "resized to the model's input; train at a larger image size, or crop",
                           "ko": "이미지 변의 1%(또는 4픽셀)보다 작은 박스가 있습니다. 모델 입력 크기로 줄이면 사라질 수 "
                                 "있으니 이미지 크기를 키우거나 잘라 쓰세요"},
    "finding.images_without_labels": {"en": 'images without a label file (trained as background)',
                                     "ko": '라벨 파일이 없는 이미지가 있습니다(배경으로 학습됩니다)'},
    "finding.empty_label_file": {"en": 'empty label files (trained as background)',
                                "ko": '비어 있는 라벨 파일이 있습니다(배경으로 학습됩니다)'},
    "finding.duplicate_images": {"en": 'identical images (same bytes) appear more than once',
                                "ko": '내용이 똑같은 이미지가 여러 번 있습니다'},
    "finding.train_val_leakage": {"en": 'identical images in both train and val inflate validation scores; remove them from one side',
                                 "ko": 'train과 val에 같은 이미지가 있어 검증 점수가 부풀려집니다. 한쪽에서 빼세요'},
    "finding.no_val_split": {"en": 'no validation split; one will be held out from train',
                            "ko": '검증 분할이 없어 학습 데이터에서 일부를 떼어 씁니다'},
    "finding.unknown_class_folder": {"en": 'folders in val/ that are not classes in train/ are ignored',
                                    "ko": 'train/에 없는 클래스 폴더가 val/에 있어 무시됩니다'},
    "finding.file_outside_class_folder": {"en": 'files outside any class folder are ignored',
                                         "ko": '클래스 폴더 밖의 파일은 무시됩니다'},
    "finding.files_dropped": {"en": 'files that are not images, labels or dataset metadata were not kept (a dataset stores nothing else: no caches, weights, scripts or hidden files)',
                             "ko": '이미지, 라벨, 데이터셋 메타데이터가 아닌 파일은 저장하지 않았습니다(캐시, 가중치, 스크립트, 숨김 파일은 보관하지 않습니다)'},
    "finding.crowd_ignored": {"en": "crowd regions (iscrowd: 1) are not objects to learn; they are left out of training, "
                                    "and the evaluation does not count a detection inside one against the model",
                              "ko": "군중 영역(iscrowd: 1)은 학습할 객체가 아니라서 학습에서 뺐고, 평가에서는 그 안의 검출을 "
                                    "오검출로 세지 않습니다"},
    "finding.difficult_ignored": {"en": "objects marked difficult are left out of training, and the evaluation does not "
                                        "count a detection of one against the model, as VOC's evaluation does",
                                  "ko": "difficult로 표시된 객체는 학습에서 뺐고, VOC 평가처럼 그 객체의 검출을 오검출로 "
                                        "세지 않습니다"},
    "finding.download_ignored": {"en": "data.yaml's download: entry was ignored: visiontrain never downloads or runs what a "
                                       "dataset names; the upload itself must hold the images and labels",
                                 "ko": "data.yaml의 download: 항목은 무시했습니다. visiontrain은 데이터셋이 지정한 것을 내려받거나 "
                                       "실행하지 않으니, 이미지와 라벨을 업로드에 포함해 주세요"},
    "finding.annotation_without_image": {"en": 'annotations that point to no listed image are ignored',
                                        "ko": '목록에 없는 이미지를 가리키는 어노테이션은 무시됩니다'},
    # the plan's notes: where a default came from, which weights a job starts from
    "plan.cluster": {"en": "chosen for this cluster", "ko": "이 클러스터에 맞춰 고른 값"},
    "plan.size_own": {"en": "{model}'s own input size", "ko": "{model} 모델의 입력 크기"},
    "plan.size_own_images": {"en": "{model}'s own input size (your images are about {side} px)",
                             "ko": "{model} 모델의 입력 크기 (이미지는 약 {side} px)"},
    "plan.size_images": {"en": "from the dataset's images (about {side} px)",
                         "ko": "데이터셋 이미지 크기에 맞춤 (약 {side} px)"},
    "plan.size_smaller": {
        "en": "your images are about {side} px, under the {made_for} px {model} was made for: larger adds compute, "
              "not detail",
        "ko": "이미지가 약 {side} px로, {model} 모델의 {made_for} px보다 작습니다: 키워도 계산만 늘고 정보는 늘지 않습니다",
    },
    "plan.balanced": {"en": "the classes are imbalanced ({high} images against {low} in train): each class's loss is "
                            "weighted by its share, so the rare ones count as much; edit the plan to set none",
                      "ko": "클래스 불균형(학습 이미지 {high}장 대 {low}장): 드문 클래스도 같은 비중이 되도록 클래스별 손실에 "
                            "가중치를 둡니다. 끄려면 계획을 수정해 none으로 두세요"},
    "chat.no_jobs": {"en": "You have no jobs yet: describe a model, confirm its plan, and it trains.",
                     "ko": "아직 작업이 없습니다. 모델을 말씀하시고 계획을 확인하시면 학습이 시작됩니다."},
    "chat.which_job": {"en": "You have {n} jobs running ({jobs}); which one? Name its id.",
                       "ko": "실행 중인 작업이 {n}개 있습니다 ({jobs}). 어느 작업인지 ID로 말씀해 주세요."},
    "chat.status": {"en": "Job {job} ({model}): {state} — {message}", "ko": "작업 {job} ({model}): {state} — {message}"},
    "chat.status_epoch": {"en": "epoch {epoch} of {epochs}", "ko": "에폭 {epoch}/{epochs}"},
    "chat.status_metric": {"en": "{metric} {value} so far", "ko": "지금까지 {metric} {value}"},
    "chat.jobs": {"en": "Your newest jobs:", "ko": "최근 작업:"},
    "chat.stopped": {"en": "Stop requested for {job} (it was {state}).", "ko": "{job} 작업의 중지를 요청했습니다 ({state} 상태였습니다)."},
    "chat.not_stoppable": {"en": "Job {job} has already ended ({state}); there is nothing to stop.",
                           "ko": "작업 {job} 은(는) 이미 끝났습니다 ({state}). 중지할 것이 없습니다."},
    "chat.not_ended": {"en": "Job {job} is {state}; its results come when it ends. {progress}",
                       "ko": "작업 {job} 은(는) {state} 상태입니다. 끝나면 결과가 나옵니다. {progress}"},
    "chat.restarted": {"en": "Job {job} is queued again: it resumes from its last complete checkpoint. Ask \"how is it "
                              "doing?\" to follow it.",
                       "ko": "{job} 작업을 다시 시작합니다: 마지막으로 완료된 체크포인트부터 이어서 학습합니다. \"어떻게 돼가?\"라고 "
                             "물으시면 진행 상황을 알려 드립니다."},
    "chat.not_restartable": {"en": "Job {job}: {state}. Only a failed or stopped job starts again. To train a finished "
                                   "model further, ask for more epochs (\"5 more epochs\").",
                             "ko": "{job} 작업은 {state} 상태입니다. 실패했거나 중지된 작업만 다시 시작할 수 있습니다. 끝난 "
                                   "모델을 더 학습하려면 \"5 에폭 더\"라고 말씀해 주세요."},
    "chat.compared": {"en": "Your {n} jobs side by side ({link}):", "ko": "작업 {n}개 비교 ({link}):"},
    "chat.compare_few": {"en": "There is not enough to compare: {n} of your jobs have ended. Train another, then ask again.",
                         "ko": "비교할 작업이 부족합니다: 끝난 작업이 {n}개입니다. 하나 더 학습한 뒤 다시 물어보세요."},
    "chat.differences": {"en": "Settings that differ: {settings}.", "ko": "다른 설정: {settings}."},
    "chat.best": {"en": "Best: {job} ({metric} {value}).", "ko": "가장 좋은 작업: {job} ({metric} {value})."},
    "chat.results": {"en": "Job {job} ({model}) {state}: {metrics}.", "ko": "작업 {job} ({model}) {state}: {metrics}."},
    "chat.weakest": {"en": "Weakest classes: {classes}.", "ko": "가장 약한 클래스: {classes}."},
    "chat.files": {"en": "The model: {onnx}", "ko": "모델 파일: {onnx}"},
    "chat.no_plan": {"en": "There is no plan in this conversation yet: describe the model first.",
                     "ko": "이 대화에는 아직 학습 계획이 없습니다. 먼저 모델을 말씀해 주세요."},
    "chat.which_field": {"en": "Which setting? For example: why batch size {batch}?",
                         "ko": "어떤 설정을 물으시나요? 예: 왜 배치 {batch}야?"},
    "chat.explained": {"en": "{field} is {value}: {why}.", "ko": "{field} 은(는) {value}: {why}."},
    "chat.you_said": {"en": "you asked for it", "ko": "말씀하신 값입니다"},
    "chat.default": {"en": "the platform's default for it", "ko": "플랫폼의 기본값입니다"},
    "plan.names_differ": {"en": "you named the classes {said}; the dataset's are {names}: the job trains on the "
                                "dataset's",
                          "ko": "말씀하신 클래스는 {said}이지만 데이터셋의 클래스는 {names}입니다. 데이터셋의 클래스로 "
                                "학습합니다"},
    "advice.cpu": {"en": "{small} ({small_params} parameters): the cluster has no GPU, and a small model trains in "
                         "reasonable time on CPUs",
                   "ko": "{small} (파라미터 {small_params}): 클러스터에 GPU가 없어서 CPU로도 적당한 시간에 학습되는 작은 모델입니다"},
    "advice.small_data": {"en": "{small} ({small_params} parameters): with {images} images a small model learns about as "
                                "well as a large one, and trains faster; with over {big} images and a GPU, {large} "
                                "({large_params}) can learn more",
                          "ko": "{small} (파라미터 {small_params}): 이미지 {images}장이면 작은 모델도 큰 모델만큼 배우고 더 빨리 "
                                "학습됩니다. 이미지가 {big}장이 넘고 GPU가 있으면 {large} ({large_params})가 더 배울 수 있습니다"},
    "advice.no_data": {"en": "{small} ({small_params} parameters): a small, fast model to start with; with over {big} "
                             "images and a GPU, {large} ({large_params}) can learn more",
                       "ko": "{small} (파라미터 {small_params}): 시작하기 좋은 작고 빠른 모델입니다. 이미지가 {big}장이 넘고 "
                             "GPU가 있으면 {large} ({large_params})가 더 배울 수 있습니다"},
    "advice.large": {"en": "{large} ({large_params} parameters): with {images} images and a GPU, a larger model has the "
                           "data to learn more; {small} ({small_params}) is the faster choice",
                     "ko": "{large} (파라미터 {large_params}): 이미지 {images}장과 GPU가 있으니 더 큰 모델이 더 많이 배울 수 "
                           "있습니다. 더 빠른 쪽은 {small} ({small_params})입니다"},
    "advice.model": {"en": "{model} ({source}): {params} parameters, {size} px input by default, for {tasks}; {use}.",
                     "ko": "{model} ({source}): 파라미터 {params}, 기본 입력 {size} px, {tasks}용; {use}."},
    "advice.for_small": {"en": "small and fast: CPUs, phones and quick experiments",
                         "ko": "작고 빠름: CPU, 휴대폰, 빠른 실험에 적합"},
    "advice.for_medium": {"en": "a balanced default on a GPU", "ko": "GPU에서 무난한 기본 선택"},
    "advice.for_large": {"en": "large: for big datasets on a GPU", "ko": "큰 모델: GPU와 큰 데이터셋에 적합"},
    "advice.relative": {"en": "{model} has {ratio}x the parameters of {base}: within one family, expect about that "
                              "much more compute per image, and more to gain from a large dataset.",
                        "ko": "{model}의 파라미터는 {base}의 {ratio}배입니다: 같은 계열이라면 이미지당 계산량도 그만큼 늘고, "
                              "데이터가 많을수록 얻는 것도 큽니다."},
    "advice.which_task": {"en": "For which task? For example: which model for detecting helmets?",
                          "ko": "어떤 작업용인가요? 예: 헬멧 검출에는 어떤 모델이 좋을까?"},
    "advice.recommended": {"en": "For {task}, I suggest {why}.", "ko": "{task}에는 {why} 모델을 추천합니다."},
    "plan.closest_model": {"en": "{asked} is not among this platform's models; {model} is the closest it has for "
                                 "{task}",
                           "ko": "{asked} 모델은 이 플랫폼에 없어 {task}에 가장 가까운 {model} 모델을 씁니다"},
    "plan.classes_differ": {"en": "you said {said} classes; the dataset has {found}: {names}",
                            "ko": "클래스가 {said}개라고 하셨지만 데이터셋에는 {found}개가 있습니다: {names}"},
    "plan.trials_rounded": {
        "en": "{asked} trials do not split evenly over the {grid} combinations of the listed values; the plan runs "
              "{trials}",
        "ko": "시도 {asked}회는 나열한 값의 조합 {grid}개로 고르게 나뉘지 않아 {trials}회로 계획했습니다",
    },
    "weights.continued": {
        "en": "job {job}'s training carried on: its last weights and optimizer state, on its data and settings, for "
              "{epochs} more epochs (the learning rate starts again from hyperparameters.learning_rate)",
        "ko": "작업 {job}의 학습을 이어서 합니다: 마지막 가중치와 옵티마이저 상태, 같은 데이터와 설정으로 {epochs} 에폭 더 "
              "(학습률은 hyperparameters.learning_rate부터 다시 시작)",
    },
    "weights.from_job": {"en": "job {job}'s best weights (its head too when the classes are the same)",
                         "ko": "작업 {job}의 최고 가중치 (클래스가 같으면 분류 헤드까지)"},
    "weights.scratch_asked": {"en": "from scratch, as you asked", "ko": "요청하신 대로 처음부터 학습"},
    "weights.script": {"en": "your script loads its own weights", "ko": "스크립트가 직접 가중치를 불러옵니다"},
    # (origin: what the operator who cached them wrote, quoted as written)
    "weights.cached": {"en": "pretrained weights, cached: `{origin}`", "ko": "사전 학습 가중치 (저장된 것): `{origin}`"},
    "weights.download": {
        "en": "pretrained weights from {source}'s hub, downloaded once when the job starts and then cached",
        "ko": "{source} 허브의 사전 학습 가중치: 작업이 시작될 때 한 번 내려받아 저장합니다",
    },
    "weights.none": {
        "en": "from scratch: no weights cached for {model} and this platform does not download; an admin can add "
              "them with `visiontrain weights add FILE --model {model}`, or fetch them on a machine that can "
              "download with `visiontrain weights pull {model}`",
        "ko": "처음부터 학습: {model}의 저장된 가중치가 없고 이 플랫폼은 내려받지 않습니다. 관리자가 "
              "`visiontrain weights add FILE --model {model}` 로 추가하거나, 내려받을 수 있는 컴퓨터에서 "
              "`visiontrain weights pull {model}` 로 가져올 수 있습니다",
    },
    "weights.unpublished": {
        "en": "from scratch: {source} publishes no pretrained weights for {model}; an admin can add them with "
              "`visiontrain weights add FILE --model {model}`",
        "ko": "처음부터 학습: {source}에 {model}의 사전 학습 가중치가 없습니다. 관리자가 "
              "`visiontrain weights add FILE --model {model}` 로 추가할 수 있습니다",
    },
    # a job's progress, as its state changes
    "job.queued": {"en": "queued: waiting to be submitted to Ray", "ko": "대기열: Ray에 제출되기를 기다리는 중"},
    "job.submitting": {"en": "submitting to Ray ({workers} workers)", "ko": "Ray에 제출하는 중 (워커 {workers}개)"},
    "job.validating": {"en": "checking the dataset at {uri}", "ko": "데이터셋 {uri} 확인 중"},
    "job.preparing": {"en": "building {model} for {task}", "ko": "{task}용 {model} 모델 준비 중"},
    "job.training": {"en": "{workers} worker(s), {device}, {epochs} epochs",
                     "ko": "워커 {workers}개, {device}, 에폭 {epochs}회"},
    "job.searching": {
        "en": "searching {parameters} over {trials} trials, {concurrent} at a time ({scheduler}); each trial: "
              "{workers} worker(s), {device}, {epochs} epochs",
        "ko": "{parameters} 탐색: 시도 {trials}회, 동시에 {concurrent}개 ({scheduler}); 시도마다 워커 {workers}개, "
              "{device}, 에폭 {epochs}회",
    },
    "job.evaluating": {"en": "evaluating the best weights on the validation split",
                       "ko": "최고 가중치를 검증 데이터로 평가하는 중"},
    "job.exporting": {"en": "exporting to ONNX and checking it in onnxruntime",
                      "ko": "ONNX로 내보내고 onnxruntime으로 확인하는 중"},
    "job.reading_script": {"en": "reading the metrics the script printed", "ko": "스크립트가 출력한 지표를 읽는 중"},
    "job.script_done": {"en": "the script finished: {lines} metric lines read, {outputs} output file(s)",
                        "ko": "스크립트가 끝났습니다: 지표 {lines}줄, 출력 파일 {outputs}개"},
    "job.tracking_error": {"en": "{tracker} stopped recording this job ({error}); the job goes on without it, and "
                                 "its metrics stay in the job's own history",
                           "ko": "{tracker}에 이 작업을 더 기록하지 못합니다 ({error}). 학습은 계속되며 지표는 작업 "
                                 "기록에 남습니다"},
    "job.input": {"en": "images decoded on the CPU by {workers} loader process(es) beside the training step, "
                        "{threads} compute thread(s); each image decoded once and kept for the next epochs",
                  "ko": "이미지는 학습 단계 옆에서 로더 프로세스 {workers}개가 CPU로 디코딩하고, 연산 스레드는 {threads}개; "
                        "이미지마다 한 번 디코딩해 다음 에폭에 다시 씁니다"},
    "job.input_each_epoch": {"en": "images decoded on the CPU by {workers} loader process(es) beside the training "
                                   "step, {threads} compute thread(s); decoded again each epoch (too many to keep)",
                             "ko": "이미지는 학습 단계 옆에서 로더 프로세스 {workers}개가 CPU로 디코딩하고, 연산 스레드는 "
                                   "{threads}개; 보관하기에 너무 많아 에폭마다 다시 디코딩합니다"},
    "job.compiled": {"en": "torch.compile: the first training step took {seconds} s, compiling included",
                     "ko": "torch.compile: 컴파일을 포함해 첫 학습 단계에 {seconds}초 걸렸습니다"},
    "job.stopped_early": {"en": "stopped before it started", "ko": "시작하기 전에 중지했습니다"},
}


def say(key: str, language: str = "en", **values: Any) -> str:
    """The message ``key`` in ``language`` (English where it has no such language). A ``task``
    value is said by its name in that language."""
    texts = MESSAGES[key]
    if "task" in values and f"task.{values['task']}" in MESSAGES:
        values["task"] = MESSAGES[f"task.{values['task']}"].get(language, values["task"])
    return texts.get(language, texts["en"]).format(**values)


def said(key: str, **values: Any) -> dict:
    """``{"message": <English>, "text": {"key", "values"}}``: what a job's state and event records
    keep, so that readers can say it in their language (``values`` must be JSON)."""
    return {"message": say(key, "en", **values), "text": {"key": key, "values": values}}


def words(language: str) -> dict[str, str]:
    """The names (``task.*``, ``state.*``) in ``language``, for menus and labels."""
    return {k: v.get(language, v["en"]) for k, v in MESSAGES.items() if k.startswith(("task.", "state."))}


def in_language(record: dict, language: str) -> dict:
    """``record`` (a state, an event, a history entry) with its ``message`` said in ``language``,
    where it keeps the message's ``text`` (records written before it did keep their English)."""
    text = record.get("text")
    if language == "en" or not isinstance(text, dict) or text.get("key") not in MESSAGES:
        return record
    try:
        return {**record, "message": say(text["key"], language, **text.get("values", {}))}
    except (KeyError, IndexError, ValueError):  # values that do not fit this version's sentence
        return record
