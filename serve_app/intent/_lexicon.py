"""Words the offline parser looks for, in Korean and English. Patterns only: no logic here."""
from __future__ import annotations

import re

__all__ = ["ARCHITECTURES", "CHOICE_WORDS", "COMMANDS", "FAMILY_NICKNAMES", "ONE_CLASS", "TYPOS", "MODEL_QUESTION", "RECOMMEND", "PLAN_FIELDS", "WHY", "FORMAT_WORDS", "HANGUL_NAMES", "INJECTION", "NUMBER_WORD", "NUMBER_WORDS", "OFF_TOPIC", "PRETRAINED",
           "SCRATCH", "SEARCH_WORDS", "WEIGHTS_PHRASE", "JOB_ID", "JOB_PHRASE_END", "LAST_JOB", "MORE_EPOCHS", "TASK_STRONG", "TRY_ON_IMAGES", "TASK_WEAK", "TRAIN_WORDS", "UPLOADED", "VISION_WORDS"]

# Korean spellings of model families, turned into the Latin names before matching.
HANGUL_NAMES = {
    "비전 트랜스포머": "vit", "비전트랜스포머": "vit", "레즈넷": "resnet", "레스넷": "resnet", "리스넷": "resnet",
    "이피션트넷": "efficientnet", "에피션트넷": "efficientnet", "이피션트 넷": "efficientnet", "효율넷": "efficientnet",
    "욜로": "yolo", "세그포머": "segformer", "모바일넷": "mobilenet", "컨브넥스트": "convnext", "콘브넥스트": "convnext",
    "스윈": "swin", "덴스넷": "densenet", "나노": " nano", "스몰": " small", "미디엄": " medium", "라지": " large",
    "타이니": " tiny", "베이스": " base",
}
# Task words typed with one letter dropped, added or swapped ("clasify", "detcet", "segement"), and their spelling.
# Only these long words: a short word is a letter away from too many others ("and" from "an", "hand"), so the one
# short typo kept is spelled out ("adn").
TASK_WORDS = ("classify", "classifier", "classification", "detect", "detector", "detection", "segment", "segmentation",
              "anomaly", "anomalies")


def _one_letter_off(word: str) -> set[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return ({a + b[1:] for a, b in splits if b} | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
            | {a + c + b for a, b in splits for c in letters})


TYPOS = {typo: word for word in TASK_WORDS for typo in _one_letter_off(word)
         if not any(w in typo for w in TASK_WORDS) and typo not in TASK_WORDS} | {"adn": "and"}  # "helmets adn vests"

# Nicknames of model families, turned into their names before matching ("effnet b0").
FAMILY_NICKNAMES = {"effnet": "efficientnet", "effnetv2": "efficientnetv2", "mnv3": "mobilenetv3", "mobilenet-v3": "mobilenetv3"}

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "a couple of": 2, "a pair of": 2, "a dozen": 12, "twenty": 20, "single": 1,
    "한": 1, "하나": 1, "두": 2, "둘": 2, "세": 3, "셋": 3, "네": 4, "넷": 4, "다섯": 5, "여섯": 6, "일곱": 7, "여덟": 8,
    "아홉": 9, "열": 10,
}
NUMBER_WORD = "|".join(sorted((re.escape(w) for w in NUMBER_WORDS), key=len, reverse=True))  # longest first

# Explicit task names win over hints; hints decide only when nothing explicit was said.
TASK_STRONG = {
    "anomaly_detection": r"이상\s*(?:탐지|감지|검출|징후)|anomal(?:y|ies|ous)|outlier|novelty detection|out[- ]of[- ]distribution",
    "segmentation": r"세그멘테이션|세그먼테이션|세그|분할|segment|segmentation|semantic|instance mask|픽셀\s*단위|pixel[- ]wise|per[- ]pixel|"
                    r"(?:every|each)\s+pixel|pixel\s+(?:level|for\s+pixel)|delineat",
    "detection": r"검출|탐지|감지|디텍션|detect|detector|detection|bounding box|bbox|바운딩\s*박스|object localization",
    "classification": r"분류|classif|\bclf\b|categori[sz]|구분|판별|클래시피케이션|recogni[sz]e which|which (?:kind|type|breed|species)|"
                      r"\bone\s+of\s+(?:our|the|these|its)?\s*(?:\w+\s+){0,2}?(?:categories|classes|labels|(?:pattern\s+)?names)\b|"
                      r"(?:decid|determin|judg|say|know)\w*\s+(?:\w+\s+)?(?:if|whether)\b|label\s+for\s+the\s+whole\s+(?:picture|image|photo)|"
                      r"one\s+label\s+per\s+(?:photo|image|picture)|which\s+\w+(?:\s+of\s+the\s+\w+)?\s+is\s+shown|"
                      r"\btag\s+(?:each|every)\s+(?:\w+\s+){0,2}with\s+(?:its|a|one)\b|the\s+whole\s+(?:image|photo|picture)\s+decides|"
                      r"which\s+(?:one\s+)?of\s+(?:our|the|these)\s+(?:\w+\s+){0,3}(?:it|this|that)\s+is\b|"
                      r"(?:photo|image|picture|scan)s?\s+assigned\s+to\s+(?:a|one)\b|based\s+on\s+the\s+look\b|"
                      r"\bone\s+(?!box\b)\w+\s+(?:per|in\s+(?:each|every))\s+(?:photo|image|picture|cover|frame)\b|"
                      r"recogni[sz]e\s+the\s+(?:genre|type|kind|category|species|breed|style|class)\b|"
                      r"\bgrad(?:e|ed)\s+(?:as|into)\b|(?:based\s+on|from)\s+the\s+(?:whole|entire|overall)\s+"
                      r"(?:photo|image|picture|appearance)|based\s+on\s+the\s+overall",
}
# Learning from normal examples only ("we only have good samples", "learn what normal glass looks like"): anomaly
# detection, whatever else the request says it finds.
ONE_CLASS = re.compile(
    r"only\s+(?:have\s+)?(?:good|normal|intact|defect-free)\s+(?:\w+\s+)?(?:samples|images|photos|pictures|ones|examples)\b|"
    r"only\s+have\s+(?:samples|images|photos|pictures|examples)\s+of\s+(?:good|normal|intact|defect-free)\b|"
    r"(?:doesn't|does\s+not|don't|do\s+not)\s+look\s+like\s+(?:a\s+|the\s+)?(?:normal|good)\b|"
    r"what\s+(?:a\s+)?normal\s+(?:\w+\s+)?looks?\s+like|looks?\s+different\s+from\s+the\s+(?:good|normal)\b|"
    r"(?:learn|train\w*)\s+(?:on\s+)?them\s+and\s+flag\b|\blooks?\s+off\b|"
    r"learn\w*\s+(?:only\s+)?from\s+(?:the\s+)?(?:normal|good|perfect|flawless)\b")
TASK_WEAK = {
    "anomaly_detection": r"불량|결함|하자|스크래치|흠집|긁힘|찍힘|균열|크랙|얼룩|오염|파손|\b(?:defect|faulty|flaw|scratch|crack|"
                         r"dents?\b|stain|damaged|unusual|deviation|abnormal|irregularit)|이상\s*(?:있|한)|정상\s*/\s*불량|양품|"
                         r"(?:정상|멀쩡한)\s*(?:[가-힣]+\s+){0,3}?[가-힣]*만\s*(?:있|가지|모았)|이상으로\s*(?:잡|검출|탐지|찾)|"
                         r"ok\s*/\s*ng|\bodd\b|only\s+(?:have\s+)?(?:good|normal|intact|defect-free)\b",
    "segmentation": r"마스크|mask|영역|outline|윤곽|pixels?\b|boundar(?:y|ies)|contours?\b|"
                    r"which\s+parts?\s+of\s+the\s+(?:image|photo|picture|scan)|area\s+covered\s+by",
    "detection": r"찾|위치|어디|locat|locali[sz]|\bpositions?\b|(?:marked|drawn|shown)\s+with\s+(?:a\s+)?(?:small\s+|bounding\s+)?box|(?:수|숫자|개수)를\s*(?:세|카운트)|\bfind|\bspot|\bcount(?:s|ing)?\b|세기|개수|\bwhere\b|"
                 r"박스\s*(?:를\s*)?(?:쳐|그려|쳐서|표시)|draw(?:s|ing)?\s+(?:a\s+)?box(?:es)?|box(?:es)?\s+around",
    "classification": r"종류|가지|품종|중\s*(?:어떤|어느)|어떤\s*(?:건지|것인지|거인지)|kinds? of|types? of|breeds?|species|sort|tell .* apart|tell(?:s|ing)? (?:\S+ ){1,3}from\b|"
                      r"tell(?:s|ing)? (?:if|whether)\b|"
                      r"distinguish|differentiat|구별|vs\.?|versus",
}

VISION_WORDS = re.compile(
    r"image|photo|picture|pic|camera|video|frame|x-?ray|ct scan|mri|satellite|drone|cctv|scan|visual|vision|"
    r"microscop|footage|webcam|\btiles?\b|\bslides?\b|h&e|histolog|patholog|"
    r"이미지|사진|영상|카메라|그림|엑스레이|위성|드론|비전|컷|픽셀|pixel"
)
TRAIN_WORDS = re.compile(
    r"train|fine-?tune|finetune|model|학습|훈련|파인\s*튜닝|모델|만들어|돌려|epoch|에폭|에포크|dataset|데이터"
)
OFF_TOPIC = re.compile(
    r"\bpoem|poetry|weather|stock|price forecast|sales|translate|translation|recipe|joke|email|sentiment|review|tweet|"
    r"spam|text classification|speech|audio|voice|time[- ]series|tabular|chatbot|language model|\bllm\b|"
    r"시를|날씨|주식|주가|번역|레시피|농담|이메일|감정\s*분석|감성\s*분석|리뷰|텍스트|문장|음성|소리|시계열|매출|챗봇|언어\s*모델"
)
INJECTION = re.compile(
    r"ignore (?:all |the |any )?(?:previous|prior|above|earlier)|disregard (?:all |the )?(?:previous|prior|above|instructions)|"
    r"system prompt|you are now|new instructions|jailbreak|\brm\s+-rf|\bsudo\b|\bcurl\s|\bwget\s|/etc/passwd|`|\$\(|"
    r"os\.system|subprocess|__import__|\beval\(|\bexec\(|"
    r"이전\s*(?:지시|명령|지침).{0,10}(?:무시|잊)|시스템\s*프롬프트|명령(?:어)?(?:를|을)?\s*실행|쉘|셸"
)
UPLOADED = re.compile(
    r"(?:dataset|data|images|files|zip|archive|folder)s?\s+(?:that\s+)?(?:i|we)(?:'ve| have)?\s+(?:just\s+)?"
    r"(?:uploaded|sent|attached|shared|gave)|(?:my|the|last|latest)\s+(?:uploaded|upload)|uploaded\s+(?:dataset|data|images|files)|"
    r"업로드\s*(?:한|된|했던)|올린|올려\s*(?:둔|놓은)|첨부\s*(?:한|된)|보낸\s*(?:데이터|파일|이미지)"
)
# A dataset by its name: "the shapes-v2 dataset", "shapes-v2 데이터셋으로", "dataset called shapes-v2",
# "'site A' dataset". A word that only describes ("my", "the whole", "업로드한") or names a format is no name.
_DATASET = r"(?:data\s*set|데이터\s*셋|데이터)"
NOT_DATASET_NAMES = frozenset(
    "the my a an this that these those our your their its new same uploaded latest last whole image images photo "
    "photos training train test val validation custom own small big large public existing previous old first second "
    "other another labelled labeled annotated raw full sample synthetic any some which what "
    "coco yolo voc pascal mvtec imagefolder mask masks name names in on from of for with at into using use to please pls "
    "thanks".split())
_NOT_A_NAME = "|".join(sorted(NOT_DATASET_NAMES, key=len, reverse=True))  # "in dataset x", "our dataset 'x'": x
DATASET_NAME = re.compile(
    rf"(?:dataset|data\s*set|데이터\s*셋)\s+(?:called|named|이름(?:이|은)?)\s+[\"'“‘]?(?P<called>[\w][\w.\-]{{0,127}})"
    rf"|[\"'“‘](?P<quoted>[^\"'”’\n]{{1,128}})[\"'”’]\s*{_DATASET}"
    rf"|(?:\bdata\s*set|데이터\s*셋)\s+[\"'“‘](?P<quoted_after>[^\"'”’\n]{{1,128}})[\"'”’]"  # "our dataset 'tiles-v2'"
    rf"|(?<![\w.\-])(?!(?:{_NOT_A_NAME})\s)(?P<word>[A-Za-z0-9][\w.\-]{{0,127}})(?<!\.)\s*{_DATASET}"  # "ones. Dataset x": no name
    rf"|(?:\bdata\s*set|데이터\s*셋(?:은|는|이)?)\s+(?=[\w.\-]*(?:[\d_\-]|\.\w))(?P<after>[A-Za-z0-9][A-Za-z0-9_.\-]{{0,127}}?)"
    rf"(?=\s*(?:[,;!?]|\.(?:\s|$)|$)|\s+[A-Za-z가-힣]|[가-힣])"  # ... or a word or a particle after it  # "..., dataset drone-scenes", "데이터셋 xray-fractures"
    rf"|(?:^|[,;]\s*)(?:the\s+)?dataset\s+(?!(?:{_NOT_A_NAME})\b)(?P<segment>[A-Za-z][\w.\-]{{0,127}}?)(?=\s*(?:[,;]|\.?\s*$))",  # ", dataset zippers"
    re.IGNORECASE,
)
# Commands on a job, said in the conversation (a message that asks for a new training is never one).
COMMANDS = {
    "best": r"which\s+(?:one\s+)?of\s+my\b.{0,40}?\b(?:is|was|did)\s+(?:the\s+)?best|(?:my\s+)?best\s+(?:job|run|model)\s+so\s+far|"
            r"(?:가장|제일)\s*(?:좋은|나은|잘\s*나온|성능\s*(?:이|좋은))\s*(?:건|것|게|모델|학습|작업)",
    "compare": r"\bcompare\b|\bcomparison\b|side\s+by\s+side|비교",
    "restart": r"\b(?:restart|resume|re-?run|re-?start)\b|\bstart\s+(?:it|this|that|the\s+(?:job|training|run))\s+again|"
               r"다시\s*(?:시작|돌려|실행|켜)|재\s*시작|재\s*개\s*(?:해|시켜)|재\s*실행",
    "jobs": r"(?:show|list)\s+(?:me\s+)?(?:all\s+)?(?:of\s+)?(?:my|the)?\s*(?:jobs|runs|trainings)\b|"
            r"(?:show|list)\s+(?:me\s+)?(?:all\s+)?(?:of\s+)?my\s+models|what\s+jobs|"
            r"(?:내|제)\s*(?:작업|학습)\s*(?:목록|들|전부|모두)|(?:작업|학습)\s*목록",
    "stop": r"\b(?:stop|cancel|abort|kill)\s+(?:it|this|that|the\s+(?:job|training|run)|my\s+(?:job|training|run)|"
            r"training|job\b)|^\s*(?:stop|cancel)\s*(?:it)?\s*[.!]*\s*$|멈춰|멈추|중지\s*(?:해|시켜)|중단\s*(?:해|시켜)|그만\s*(?:해|둬)",
    "results": r"결과\s*(?:를|좀)?\s*(?:보여|알려|는|어때|나왔)|성능\s*(?:은|이)?\s*(?:어때|어떻|나왔)|정확도\s*(?:는|가)?\s*"
               r"(?:얼마|어때|나왔)|(?:show|give|tell)\s+(?:me\s+)?(?:the\s+)?(?:results?|metrics|scores?)|how\s+(?:well\s+)?"
               r"did\s+(?:it\s+|my\b.{0,30}?|the\b.{0,30}?)?\s*do\b|what(?:'s|\s+is|\s+was)\s+(?:the|its|my)\s+(?:accuracy|map|miou|score)",
    "status": r"어떻게\s*(?:돼|되)\s*(?:가|고)|진행\s*(?:상황|상태|률|도)|얼마나\s*(?:남았|됐)|잘\s*(?:되고|돌아가고)\s*있|"
              r"how(?:'s|\s+is)\s+(?:my|the|it)\b.{0,40}?(?:doing|going|coming)|status\s+of|what(?:'s|\s+is)\s+the\s+"
              r"(?:status|progress)|how\s+(?:far|long)\s+(?:along|left|until|is)",
}
# Questions about models the user names ("yolov8n이랑 yolov8s 차이가 뭐야?", "what is resnet50?") and asking
# which model to use ("어떤 모델이 좋을까?", "which model should I use for detection?").
MODEL_QUESTION = re.compile(
    r"차이|비교|다른\s*점|뭐가\s*(?:달라|다르|나아|좋아)|어떤\s*(?:게|것이|걸)\s*(?:더\s*)?(?:나아|좋아|빨라)|뭐야|뭔가요|무엇인가|"
    r"설명해|알려\s*줘|difference|differ\b|\bvs\.?\b|versus|compare|what(?:'s|\s+is|\s+are)\b|tell\s+me\s+about|"
    r"which\s+(?:one\s+)?is\s+(?:better|faster|smaller|bigger|larger)"
)
RECOMMEND = re.compile(
    r"(?:어떤|무슨|어느)\s*모델|모델\s*(?:을|를)?\s*(?:추천|골라|고르)|추천\s*(?:해|좀|할)|"
    r"(?:which|what)\s+model|recommend|suggest\s+(?:a\s+)?model|best\s+model\s+for"
)
# "왜 배치 32야?", "why batch size 32?": a plan's choice and its reason; the words name the field asked about.
WHY = re.compile(r"^\s*(?:왜|어째서)\b|^\s*why\b|이유가?\s*(?:뭐|무엇)|how\s+did\s+you\s+(?:pick|choose)", re.I)
PLAN_FIELDS = {
    "hyperparameters.batch_size": r"batch|배치", "hyperparameters.image_size": r"image\s*size|imgsz|이미지\s*크기|해상도|px",
    "hyperparameters.learning_rate": r"learning\s*rate|\blr\b|학습률", "hyperparameters.epochs": r"epochs?|에폭|에포크",
    "hyperparameters.class_weights": r"class\s*weights?|클래스\s*가중치|불균형", "model.pretrained": r"weights|pretrained|가중치|사전\s*학습",
    "resources.cpus_per_worker": r"cpus?\b|코어", "resources.use_gpu": r"gpu", "model.name": r"model|모델|resnet|yolo|segformer",
}
# Architectures people name that the platform does not have, and the closest model it has (the plan says so).
ARCHITECTURES = {
    r"deep\s*lab\s*(?:v?3\s*\+?|v\d)?\+?|psp\s*net|u[\s-]?net\b|fcn\b|seg\s*net|hr\s*net": ("huggingface", "nvidia/mit-b0"),
    r"mask\s*r[\s-]?cnn|mask2former|yolact|solo\s*v2": ("ultralytics", "yolov8n-seg"),
    r"(?:faster|fast|cascade)\s*r[\s-]?cnn|retina\s*net|\bssd\b|efficient\s*det|\bdetr\b|centernet|fcos": ("ultralytics",
                                                                                                       "yolov8n"),
}
FORMAT_WORDS = {
    "yolo": r"yolo\s*(?:format|형식|포맷|layout|labels?|annotations?|txt)|(?:format|형식|포맷)\s*(?:은|는|:)?\s*yolo",
    "coco": r"\bcoco\b",
    "voc": r"\bvoc\b|pascal",
    "mvtec": r"mvtec",
    "cityscapes": r"cityscapes|시티스케이프",
    "imagefolder": r"image\s*folder|imagefolder|class(?:-| )?folders?|folder per class|one folder per|폴더별|클래스별\s*폴더|폴더\s*구조",
    "mask": r"mask\s*(?:format|png|images?|folders?|files?)|마스크\s*(?:이미지|파일|폴더|형식|png)",
}

# A hyperparameter search: "8번 탐색", "find the best lr", "resnet18과 efficientnet_b0 중 더 좋은 걸로".
SEARCH_WORDS = re.compile(
    r"탐색|서치|search|sweep|\btun(?:e|ing)\b|튜닝|\bbest\b|최적|가장\s*좋|더\s*좋|나은|비교|compar|"
    r"which (?:one )?(?:is|works|does) better|whichever|try (?:a few|several|some|both|each)|trials?\b|시도"
)
# Where the weights start: "사전학습된 가중치로", "pretrained on ImageNet" / "from scratch", "사전학습 없이".
# "scratch" alone is a defect to find ("detect scratch and dent"): from scratch only where training is said
SCRATCH = re.compile(
    r"from\s+scratch|\btrain(?:ed|ing)?\s+(?:it\s+|the\s+model\s+)?scratch\b|\bscratch[\s-]+(?:train\w*|init\w*|weights?)\b|"
    r"\bscratch\s*(?:로|으로|부터|에서)|처음부터|밑바닥부터|무작위\s*초기화|random(?:ly)?\s+initiali[sz]|"
    r"(?:without|no)\s+(?:any\s+)?pre-?train|사전\s*학습(?:된)?\s*(?:가중치|모델|웨이트)?\s*(?:없이|안\s*쓰고|말고|사용하지)"
)
PRETRAINED = re.compile(
    r"pre-?trained|pre-?training|사전\s*학습|프리\s*트레인|imagenet|이미지넷|transfer\s+learning|전이\s*학습"
)
# Starting from an earlier job: its id ("fine-tune job classification-1a2b3c4d5e6f"), or the newest
# ("지난번 모델에서 이어서", "continue from my last model").
JOB_ID = re.compile(r"(?:\bjob|작업)\s*:?\s*([a-z0-9]+(?:-[a-z0-9]+)+)\b|\b([a-z]+(?:-[a-z]+)*-[0-9a-f]{12})\b")
LAST_JOB = re.compile(
    r"(?:지난번|지난|저번|이전|마지막|방금|아까)\s*(?:에\s*)?(?:학습한|훈련한|만든|돌린)?\s*(?:모델|작업|학습)|"
    r"(?:my|the)\s+(?:last|previous|latest|earlier)\s+(?:model|job|run|training)|continue\s+(?:training|from)"
)
# Carrying on a job's training: "10 에폭 더 학습해줘", "에폭 5번 더", "train it for 5 more epochs".
MORE_EPOCHS = re.compile(
    r"(\d+)\s*(?:more|extra|additional)\s+epochs?|another\s+(\d+)\s+epochs?|"
    r"(\d+)\s*(?:번|회)?\s*(?:에폭|에포크)(?:을|를)?\s*더|(?:에폭|에포크)(?:을|를)?\s*(\d+)\s*(?:번|회|개)?\s*더"
)
# Trying a trained model on the images attached to the message: "이 사진으로 테스트해줘", "try it on
# these images", "test job classification-1a2b3c4d5e6f on these pictures".
TRY_ON_IMAGES = re.compile(
    r"(?:사진|이미지|그림)\s*(?:들)?\s*(?:으로|로|에|에서|을|를|에\s*대해)?\s*(?:한\s*번\s*|모델\s*(?:을|를|로)?\s*)?"
    r"(?:테스트|시험|예측|추론|돌려|확인|실행|써\s*봐)|"
    r"\b(?:try|test|predict|check|run\s+(?:it|this|that|the\s+model|my\s+model))\b[^.?!]{0,40}?"
    r"\b(?:on|with|for)\s+(?:these|this|those|the|my|attached)\b[^.?!]{0,20}?\b(?:images?|pictures?|photos?|pics?)\b"
)
JOB_PHRASE_END = re.compile(r"^\s*(?:에서|으로부터|부터)?\s*(?:이어서|계속)?")

# The whole phrase, taken out before class names are read ("사전학습된 가중치로" is not a class).
WEIGHTS_PHRASE = re.compile(
    rf"[,\s]*(?:{SCRATCH.pattern}|{PRETRAINED.pattern})(?:된|한)?\s*(?:가중치|웨이트|weights?|모델)?\s*(?:로|으로|를|을|on|from)?",
    re.I)
CHOICE_WORDS = re.compile(r"\bor\b|\bvs\.?|versus|중에?서?\b|중\s|또는|아니면")
