"""Every sentence the UI says, in English and Korean. Labels follow the browser's language; what
the UI writes at run time follows the language the user writes in."""
from __future__ import annotations

__all__ = ["LABELS", "language_of", "say"]

LABELS = {
    "en": {
        "title": "visiontrain", "username": "User name", "password": "Password", "login": "Log in",
        "tab_train": "Train", "tab_jobs": "Jobs", "tab_models": "Model zoo",
        "chat": "Conversation", "message": "Describe the model you want",
        "message_hint": "e.g. Train resnet18 to classify 3 kinds of shapes, 3 epochs", "send": "Send",
        "confirm": "Confirm and train", "edit": "Edit", "upload": "Dataset archive (.zip, .tar.gz)",
        "stop": "Stop", "progress": "Progress", "loss": "Loss", "metric": "Validation metric",
        "results": "Results", "confusion": "Confusion matrix", "per_class": "Per class", "downloads": "Downloads",
        "config": "Config to rerun it", "refresh": "Refresh", "job_id": "Job id", "open": "Open",
        "task": "Task", "samples": "Sample predictions (true -> predicted)", "search": "Search", "query": "Name contains", "new_chat": "New conversation",
        "try_it": "Try it: drop one or more images", "try_drawn": "Its predictions",
    },
    "ko": {
        "title": "visiontrain", "username": "사용자 이름", "password": "비밀번호", "login": "로그인",
        "tab_train": "학습", "tab_jobs": "작업 목록", "tab_models": "모델 찾기",
        "chat": "대화", "message": "원하는 모델을 말씀해 주세요",
        "message_hint": "예: ResNet18로 도형 3종류 분류해줘, 에폭 3", "send": "보내기",
        "confirm": "확인하고 학습 시작", "edit": "수정", "upload": "데이터셋 압축 파일 (.zip, .tar.gz)",
        "stop": "중지", "progress": "진행 상황", "loss": "손실", "metric": "검증 지표",
        "results": "결과", "confusion": "혼동 행렬", "per_class": "클래스별", "downloads": "내려받기",
        "config": "다시 실행할 설정", "refresh": "새로 고침", "job_id": "작업 ID", "open": "열기",
        "task": "작업 종류", "samples": "예측 예시 (정답 -> 예측)", "search": "검색", "query": "이름에 포함", "new_chat": "새 대화",
        "try_it": "직접 해 보기: 이미지를 한 장 이상 올려 주세요", "try_drawn": "예측 결과",
    },
}

SENTENCES = {
    "en": {
        "logged_in": "Signed in as **{user}** ({role}).",
        "login_failed": "Could not sign in: {error}",
        "need_login": "Sign in first.",
        "uploaded": "Dataset **{name}** stored as `{id}`.",
        "upload_blocked": "This dataset cannot be used for training yet; fix the errors below and upload it again.",
        "plan_title": "### Plan",
        "plan_ready": "Here is the plan. Check it below, then confirm or edit it.",
        "plan_model": "**Model**: {model} — {why}",
        "plan_weights": "**Weights**: {weights}",
        "plan_why_stated": "the one you asked for",
        "plan_why_default": "a default for this task",
        "plan_dataset": "**Dataset**: `{uri}`",
        "plan_classes": "**Classes**: {classes}",
        "plan_task": "**Task**: {task}",
        "plan_hyper": "**Hyperparameters** (*default* marks values you did not give)",
        "plan_resources": "**Resources**",
        "plan_estimate": "**Estimate**: about {steps} training steps ({epochs} epochs of {per_epoch}); on this cluster roughly {minutes}.",
        "plan_confirm": "Nothing runs until you confirm.",
        "default": "default",
        "submitted": "Job `{job}` submitted. Progress appears below.",
        "step": "**{state}** — {message}",
        "epoch": "Epoch {epoch}/{epochs}",
        "remaining": "about {s} s left",
        "system": "CPU {cpu:.0f}% · memory {mem:.1f} GiB",
        "gpu": " · GPU {util:.0f}% · GPU memory {gmem:.1f} GiB",
        "finished": "Job `{job}` {state}: {message}",
        "headline": "**{name}**: {value}",
        "stop_sent": "Stop requested for `{job}`.",
        "no_job": "No job is being followed.",
        "error": "⚠️ {error}",
        "minutes": "a minute or two", "more_minutes": "{n} minutes",
        "plan_search": "**Search** ({trials} trials, {concurrent} at a time, weak ones stopped early: {scheduler})",
        "plan_search_estimate": "**Estimate**: {trials} trials of up to {steps} steps each; on this cluster roughly {minutes}.",
        "trials": "Trials: {done}/{total} ended",
        "best_trial": "best so far: **{trial}** ({metric} {value})",
        "search_done": "Best trial **{trial}**: {params} ({metric} {value}); its model was evaluated and exported.",
        "worker_failed": "⚠️ a training worker was lost ({error}); restarting from the last complete checkpoint",
        "worker_failed_final": "⚠️ a training worker was lost ({error}); no restarts left",
        "driver_lost": "⚠️ the job's driver was lost; the job was submitted again and resumes from its checkpoint",
        "resumed": "resumed after epoch {epoch} from its checkpoint",
    },
    "ko": {
        "logged_in": "**{user}** 님으로 로그인했습니다 ({role}).",
        "login_failed": "로그인하지 못했습니다: {error}",
        "need_login": "먼저 로그인해 주세요.",
        "uploaded": "데이터셋 **{name}** 을(를) `{id}` 로 저장했습니다.",
        "upload_blocked": "이 데이터셋으로는 아직 학습할 수 없습니다. 아래 오류를 고친 뒤 다시 올려 주세요.",
        "plan_title": "### 학습 계획",
        "plan_ready": "학습 계획을 세웠습니다. 아래에서 확인하신 뒤 시작하거나 수정해 주세요.",
        "plan_model": "**모델**: {model} — {why}",
        "plan_weights": "**가중치**: {weights}",
        "plan_why_stated": "요청하신 모델",
        "plan_why_default": "이 작업의 기본 모델",
        "plan_dataset": "**데이터셋**: `{uri}`",
        "plan_classes": "**클래스**: {classes}",
        "plan_task": "**작업**: {task}",
        "plan_hyper": "**하이퍼파라미터** (*기본값* 은 말씀하지 않은 값입니다)",
        "plan_resources": "**자원**",
        "plan_estimate": "**예상**: 학습 스텝 약 {steps}회 (에폭 {epochs}회 × {per_epoch}); 이 클러스터에서 대략 {minutes}.",
        "plan_confirm": "확인하시기 전에는 아무것도 실행되지 않습니다.",
        "default": "기본값",
        "submitted": "작업 `{job}` 을(를) 제출했습니다. 진행 상황이 아래에 표시됩니다.",
        "step": "**{state}** — {message}",
        "epoch": "에폭 {epoch}/{epochs}",
        "remaining": "약 {s}초 남음",
        "system": "CPU {cpu:.0f}% · 메모리 {mem:.1f} GiB",
        "gpu": " · GPU {util:.0f}% · GPU 메모리 {gmem:.1f} GiB",
        "finished": "작업 `{job}` {state}: {message}",
        "headline": "**{name}**: {value}",
        "stop_sent": "`{job}` 작업의 중지를 요청했습니다.",
        "no_job": "따라가는 작업이 없습니다.",
        "error": "⚠️ {error}",
        "minutes": "1~2분", "more_minutes": "{n}분",
        "plan_search": "**탐색** (시도 {trials}회, 동시에 {concurrent}개, 성능이 낮은 시도는 조기 중단: {scheduler})",
        "plan_search_estimate": "**예상**: 시도 {trials}회 × 최대 {steps} 스텝; 이 클러스터에서 대략 {minutes}.",
        "trials": "시도: {done}/{total} 끝남",
        "best_trial": "현재 최고: **{trial}** ({metric} {value})",
        "search_done": "최고 시도 **{trial}**: {params} ({metric} {value}); 이 모델을 평가하고 내보냈습니다.",
        "worker_failed": "⚠️ 학습 워커를 잃었습니다 ({error}); 마지막 완전한 체크포인트에서 다시 시작합니다",
        "worker_failed_final": "⚠️ 학습 워커를 잃었습니다 ({error}); 남은 재시작 횟수가 없습니다",
        "driver_lost": "⚠️ 작업 드라이버를 잃었습니다; 작업을 다시 제출했고 체크포인트에서 이어서 학습합니다",
        "resumed": "에폭 {epoch}의 체크포인트에서 이어서 학습합니다",
    },
}


def say(lang: str, key: str, **values) -> str:
    return SENTENCES.get(lang, SENTENCES["en"])[key].format(**values)


def language_of(text: str, fallback: str = "en") -> str:
    """ko when the text has Hangul, en when it has Latin letters only, else the fallback."""
    if any("\uac00" <= ch <= "\ud7a3" or "\u3131" <= ch <= "\u318e" for ch in text):
        return "ko"
    return "en" if any(ch.isascii() and ch.isalpha() for ch in text) else fallback
