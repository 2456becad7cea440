"""How the offline parser understands requests people write (#29, understanding), one test per class of
miss found on held-out requests, each over Korean, English and mixed sentences: class lists introduced by
verbs and connectives, counts said as kinds, compute said in words, an explicit task in a long request
full of domain words, architectures the platform does not have, and no invented class names."""
from __future__ import annotations

import pytest

from serve_app.intent import parse_offline
from serve_app.intent import singular
from serve_app.services.plan import make_plan
from serve_app.services.records import Records
from train_jobs.data.synth import make_classification
from train_jobs.data.versions import add_dataset
from train_jobs.store import open_store


def read(message: str):
    return parse_offline(message, []).intent


@pytest.mark.parametrize("message, names", [
    ("a model that tells cats, dogs and horses apart", ["cat", "dog", "horse"]),
    ("I need something to tell apples from oranges", ["apple", "orange"]),
    ("distinguish apples from oranges", ["apple", "orange"]),
    ("train a classifier that differentiates between wolves and huskies", ["wolf", "husky"]),
    ("classify whether an image is a cat or a dog", ["cat", "dog"]),
    ("is it a helmet or a head? detect that", ["helmet", "head"]),
    ("고양이인지 개인지 구분하는 모델", ["고양이", "개"]),
    ("사과냐 배냐 판별해줘", ["사과", "배"]),
    ("고양이랑 개 구분해줘", ["고양이", "개"]),
    ("classify traffic lights, stop signs and buses", ["traffic light", "stop sign", "bus"]),
    ("people and bicycles 검출 모델", ["person", "bicycle"]),
    ("label each scan as benign or malignant", ["benign", "malignant"]),  # "as" introduces the list
    ("split the photos into indoor, outdoor and underwater", ["indoor", "outdoor", "underwater"]),  # "into" too
    ("양품 또는 불량으로 분류", ["양품", "불량"]), ("맑음 혹은 흐림 판별", ["맑음", "흐림"]),  # 또는, 혹은: "or"
])
def test_class_lists_after_verbs_and_connectives_are_the_nouns_in_the_singular(message, names):
    assert read(message).class_names == names


@pytest.mark.parametrize("message, count", [
    ("classify 5 kinds of flowers", 5), ("recognise 12 types of birds", 12), ("4 categories of defects", 4),
    ("숫자 10개 분류", 10), ("꽃 10종류 분류 모델", 10), ("두 가지 결함 분류", 2), ("three sorts of fruit", 3),
])
def test_counts_said_as_kinds_set_the_class_count(message, count):
    assert read(message).num_classes == count


@pytest.mark.parametrize("message, gpu, workers", [
    ("train a classifier on CPU", False, None), ("resnet18 using the CPU only", False, None),
    ("CPU만으로 학습해줘", False, None), ("GPU 없이 분류 모델", False, None),
    ("train on 2 GPUs", True, 2), ("GPU 두 장으로 학습", True, 2), ("use 4 gpus for the detector", True, 4),
])
def test_compute_said_in_words(message, gpu, workers):
    it = read(message)
    assert (it.resources.use_gpu, it.resources.num_workers) == (gpu, workers)


@pytest.mark.parametrize("message, task", [
    ("To improve safety in our warehouses, where forklifts and people share the aisles, we want an object "
     "detection model that finds forklifts and people in CCTV frames.", "detection"),
    ("Our security team reviews thousands of images a day. We would like an image classifier that sorts them into "
     "threat and no threat.", "classification"),
    ("We inspect weld seams for defects by hand today. Please build a segmentation model that outlines each defect "
     "region at the pixel level.", "segmentation"),
    ("Health screening: we need an image classification model for chest x-rays, normal versus pneumonia.",
     "classification"),
    ("공장 안전을 위해 위험 구역을 찾는 객체 검출 모델이 필요합니다. 작업자와 지게차를 찾아 주세요.", "detection"),
    ("Our bridges are inspected by drone. We want an object detection model that finds cracked bearings and "
     "missing rivets.", "detection"),  # defect words, boxes asked for: not anomaly detection
    ("Most of our castings are fine; the few bad ones show unusual patterns nobody can list in advance, so learn "
     "what normal castings look like and score deviations.", "anomaly_detection"),
    ("We want to distinguish genuine banknotes from counterfeit ones at the counter.", "classification"),
])
def test_an_explicitly_named_task_wins_over_domain_words(message, task):
    assert read(message).task == task


@pytest.mark.parametrize("message, task, model", [
    ("train DeepLabV3+ for road segmentation", "segmentation", "nvidia/mit-b0"),
    ("PSPNet on my dataset", "segmentation", "nvidia/mit-b0"),
    ("U-Net으로 세포 분할", "segmentation", "nvidia/mit-b0"),
    ("Mask R-CNN to segment cells", "segmentation", "yolov8n-seg"),
    ("Faster R-CNN to detect cars", "detection", "yolov8n"),
    ("RetinaNet 검출 모델", "detection", "yolov8n"),
])
def test_architectures_the_platform_lacks_map_to_the_closest_it_has(message, task, model):
    it = read(message)
    assert (it.task, it.model.name) == (task, model) and it.model.instead_of


@pytest.mark.parametrize("message", [
    "train a detector for my warehouse cameras", "I want to sort photos of our products",
    "우리 공장 사진으로 불량 검출 모델 만들어줘", "build an image classifier for the x-ray images I uploaded",
    "Detect objects in drone footage, the dataset is s3://b/d/drone",
])
def test_no_class_names_are_invented(message):
    assert read(message).class_names is None


@pytest.mark.parametrize("message, names", [
    ("tell ripe bananas from overripe ones", ["ripe", "overripe"]),        # "ones": the head noun is shared
    ("sort fresh eggs from cracked ones", ["fresh", "cracked"]),
    ("distinguish safe from unsafe ladders", ["safe", "unsafe"]),           # the second negates the first
    ("tell filled bottles from unfilled", ["filled", "unfilled"]),
    ("깨끗한 유리랑 깨진 유리 구분해줘", ["깨끗한 유리", "깨진 유리"]),     # a modifier and its noun, 이랑 read by
    ("젖은 타일이랑 마른 타일 판별", ["젖은 타일", "마른 타일"]),           # the word said again
])
def test_kinds_of_one_thing_are_named_by_what_sets_them_apart(message, names):
    assert read(message).class_names == names


@pytest.mark.parametrize("message, names", [
    ("detect ships in satellite images", ["ship"]),
    ("find every forklift on the warehouse camera, yolov8n", ["forklift"]),
    ("segment each individual cell in microscope images", ["cell"]),
    ("instance masks for every tree in aerial photos", ["tree"]),
    ("count sheep by detecting sheep boxes in drone footage", ["sheep"]),
    ("detect objects in street photos", None),                             # no kind named: nothing invented
    ("find defects in steel sheet images", None),                          # an inspection: no classes
])
def test_one_kind_of_object_to_find_is_its_class(message, names):
    assert read(message).class_names == names


@pytest.mark.parametrize("message, task", [
    ("build a detector for rust and peeling paint on bridges", "detection"),  # defect kinds named one by one
    ("교량 사진에서 녹과 균열을 찾는 검출 모델", "detection"),
    ("detect scratches on phone cases; we only have good samples", "anomaly_detection"),
    ("불량 검출 모델, 정상/불량", "anomaly_detection"),
    ("tell apples from pears in the orchard photos", "classification"),
])
def test_defect_kinds_named_one_by_one_are_objects_to_detect(message, task):
    assert read(message).task == task


@pytest.mark.parametrize("message, uri, names", [
    ("segment road, curb and grass pixels, dataset street-2024", "name:street-2024", ["road", "curb", "grass"]),
    ("classify dogs and cats; dataset pets_v3.", "name:pets_v3", ["dog", "cat"]),
    ("classify dogs and cats, dataset with labels", None, ["dog", "cat"]),  # "with" names no dataset
])
def test_a_dataset_named_after_the_word_and_pixels_after_a_list(message, uri, names):
    intent = read(message)
    assert (intent.dataset.uri if intent.dataset else None, intent.class_names) == (uri, names)


# What the third held-out set (bench/data/heldout_requests_3.jsonl) missed, by class, over other sentences.
@pytest.mark.parametrize("message, names", [
    ("we want to locate drones and birds in the sky camera", ["drone", "bird"]),     # a verb before the list
    ("count sheep and goats in pasture photos", ["sheep", "goat"]),
    ("classify cats, dogs and rabbits by their fur", ["cat", "dog", "rabbit"]),     # a phrase after the list
    ("sort ripe, overripe and unripe mangoes at the market", ["ripe", "overripe", "unripe"]),  # a shared head
    ("a classifier: is the weld cracked or not?", ["cracked", "not cracked"]),      # "X or not"
    ("표지판 종류: 주차 금지, 일방 통행, 진입 금지", ["주차 금지", "일방 통행", "진입 금지"]),  # two-word items
    ("항공 사진에서 도로, 지붕, 나무를 분할", ["도로", "지붕", "나무"]),  # 도로 inside a list keeps its 로
    ("사과 배 귤 세 가지 분류", ["사과", "배", "귤"]),                     # no commas: as many as the count
    ("창고에서 상자와 카트 위치 찾기", ["상자", "카트"]),                  # 위치 follows the names
    ("정상 또는 폐렴으로 분류해줘, 내가 올린 데이터로", ["정상", "폐렴"]),  # the list ends where its phrase does
])
def test_lists_from_the_third_held_out_set_s_classes_of_miss(message, names):
    assert read(message).class_names == names


@pytest.mark.parametrize("message, task, names, count", [
    ("find anomalies in pills, capsules and tablets", "anomaly_detection", None, None),  # learns "normal" only
    ("결함 3종과 정상 분류", "classification", None, 4),              # N kinds and normal: N + 1
    ("classify 5 kinds of pest damage and healthy plants", "classification", None, 6),
    ("weeds versus crops in field photos, segformer", "segmentation", ["weed", "crop"], 2),  # not a model question
])
def test_what_the_words_around_a_list_say_about_it(message, task, names, count):
    intent = read(message)
    assert (intent.task, intent.class_names, intent.num_classes, intent.command) == (task, names, count, None)


@pytest.mark.parametrize("message, names", [
    ("detect rust spots and paint chips on ship hulls", ["rust spot", "paint chip"]),   # "spots", a noun here
    ("segment free spots and taken spots in garage photos", ["free spot", "taken spot"]),
])
def test_spots_after_a_word_is_a_class(message, names):
    assert read(message).class_names == names


def test_spots_before_a_list_is_its_verb():
    assert read("a model that spots cracks and dents on car doors").class_names == ["crack", "dent"]


# What the fourth held-out set (bench/data/heldout_requests_4.jsonl) missed, by class, over other sentences.
@pytest.mark.parametrize("message, task, names", [
    ("classify pizza crusts: thin crust, medium crust and thick crust", "classification",
     ["thin crust", "medium crust", "thick crust"]),                          # a model size word inside a name
    ("classify pizzas: thin crust, stuffed crust and large crust", "classification",
     ["thin crust", "stuffed crust", "large crust"]),                         # ... the last item's too
    ("detect misplaced items and small parts on the assembly line", "detection", ["misplaced item", "small part"]),
    ("detect lost items and abandoned objects at the airport gates", "detection",
     ["lost item", "abandoned object"]),                                       # a generic head after its modifier
    ("a model that tells if a banana is ripe or rotten", "classification", ["ripe", "rotten"]),  # "tell if A or B"
    ("tell whether the road is wet or dry from dashcam photos", "classification", ["wet", "dry"]),
    ("양식장 사진에서 물고기 하나하나 분할해줘", "segmentation", ["물고기"]),   # one kind, each of them, in Korean
    ("사진 속 사람마다 박스를 검출해줘", "detection", ["사람"]),
    ("모든 물고기를 검출해줘", "detection", ["물고기"]),
    ("use my dataset, classify cats and dogs", "classification", ["cat", "dog"]),  # a clause before the list
    ("image size 64, detect helmets and vests", "detection", ["helmet", "vest"]),
    ("과수원 사진에서 사과마다 박스 쳐줘", "detection", ["사과"]),               # boxes drawn: detection
    ("draw boxes around every bicycle in street photos", "detection", ["bicycle"]),
    ("classify boxes and crates", "classification", ["box", "crate"]),         # boxes as a class
])
def test_lists_from_the_fourth_held_out_set_s_classes_of_miss(message, task, names):
    intent = read(message)
    assert (intent.task, intent.class_names) == (task, names)


# What the fifth held-out set (bench/data/heldout_requests_5.jsonl) missed, by class, over other sentences.
@pytest.mark.parametrize("message, task, names", [
    ("are these apples ripe or rotten? train a classifier", "classification", ["ripe", "rotten"]),  # the states
    ("is this tomato ripe or unripe? classify that", "classification", ["ripe", "unripe"]),    # after the thing
    ("주차장 사진에서 차 한 대 한 대 검출해줘", "detection", ["차"]),         # one kind, each one counted in Korean
    ("사람 한 명씩 박스 쳐줘", "detection", ["사람"]),
])
def test_lists_from_the_fifth_held_out_set_s_classes_of_miss(message, task, names):
    intent = read(message)
    assert (intent.task, intent.class_names) == (task, names)


# What the sixth held-out set (bench/data/heldout_requests_6.jsonl) missed, by class, over other sentences.
@pytest.mark.parametrize("message, names", [
    ("사슴이랑 곰 분류", ["사슴", "곰"]),          # 이랑 after a closed syllable that ends no common -이 noun
    ("김밥이랑 떡볶이 분류", ["김밥", "떡볶이"]),
    ("고양이랑 강아지 분류", ["고양이", "강아지"]),  # ... and the nouns that do end in 이
    ("목걸이랑 반지 검출", ["목걸이", "반지"]),
    ("종이랑 플라스틱 분류", ["종이", "플라스틱"]),
    ("detect traffic cones on the highway", ["traffic cone"]),  # one kind of two words
    ("count sheep by detecting sheep boxes in drone footage", ["sheep"]),
    ("터널 영상에서 차량 검출해줘", ["차량"]),      # one kind in Korean: what is found in a place
    ("간 영역을 분할해줘", ["간"]),                 # the region of one kind
])
def test_lists_from_the_sixth_held_out_set_s_classes_of_miss(message, names):
    assert read(message).class_names == names


@pytest.mark.parametrize("message, field, value", [
    ("segment roads, image size 320.", "image_size", 320),            # a number that ends a sentence
    ("classify cats and dogs, 12 epochs.", "epochs", 12),
    ("손 사진 분류, CPU 워커 2개", "use_gpu", False),                  # CPU workers
    ("detect boats on the photos in dataset harbour-1", "dataset", "name:harbour-1"),  # "in" is no name
])
def test_numbers_compute_and_names_the_sixth_set_missed(message, field, value):
    intent = read(message)
    got = {"image_size": intent.hyperparameters.image_size, "epochs": intent.hyperparameters.epochs,
           "use_gpu": intent.resources.use_gpu, "dataset": intent.dataset and intent.dataset.uri}[field]
    assert got == value


# What the seventh held-out set (bench/data/heldout_requests_7.jsonl: long Korean, Korean-English mixed) missed.
@pytest.mark.parametrize("message, names", [
    ("저희는 공장을 운영하고 있는데요, 품질 때문에 사진에서 나사와 볼트를 검출하는 모델이 필요해요",
     ["나사", "볼트"]),                                         # a verb ending (있는데요) is no name
    ("cat, no_cat 두 클래스로 분류해줘", ["cat", "no_cat"]),    # a name with an underscore; a list by its count
    ("데이터는 폴더에 있어요, apple랑 pear랑 plum 분류", ["apple", "pear", "plum"]),  # English names, Korean particles
    ("resnet18 fine-tuning 해서 사과, 배, 감 분류해줘", ["사과", "배", "감"]),  # a connective before the list
    ("터널 영상에서 차량 번호판만 찾아줘", ["번호판"]),          # one kind: a modifier before it, 만 after it
    ("사과 검출 모델 만들어줘", ["사과"]),                       # one kind: the noun before 검출
    ("사진으로 폐렴인지 아닌지 판별해줘", ["폐렴", "폐렴 아님"]),  # "X인지 아닌지", as "X or not"
])
def test_lists_from_the_seventh_held_out_set_s_classes_of_miss(message, names):
    assert read(message).class_names == names


# What the ninth held-out set (bench/data/heldout_requests_9.jsonl) missed, by class, over other sentences.
@pytest.mark.parametrize("message, names", [
    ("classify scans: covid / pneumonia / no disease", ["covid", "pneumonia", "no disease"]),  # a two-word last item
    ("classify clean / unclean / stained shirts", ["clean", "unclean", "stained"]),  # a negated pair, a shared head
    ("폐 CT를 정상, 폐렴, 결핵으로 분류", ["정상", "폐렴", "결핵"]),          # "CT를": a lone particle ends a phrase
    ("책상 위 컵과 펜을 찾아줘", ["컵", "펜"]),                            # a place word (위) before the list
    ("신발 사진을 앞, 뒤, 옆으로 분류", ["앞", "뒤", "옆"]),                # ... and place words as the names
    ("pls detect drones w/ yolov8n", ["drone"]),                          # one kind, the clause ends after it
    ("드론 검출 yolov8n, 에폭 10", ["드론"]),
    ("an instance segmentation model for leaves in plant photos", ["leaf"]),  # "a model for X in"
    ("사진에서 잎을 인스턴스 분할해줘", ["잎"]),
])
def test_lists_from_the_ninth_held_out_set_s_classes_of_miss(message, names):
    assert read(message).class_names == names


# What the tenth held-out set (bench/data/heldout_requests_10.jsonl) missed, by class, over other sentences.
@pytest.mark.parametrize("message, names", [
    ("과수원 사진에서 빨간 사과 검출", ["빨간 사과"]),              # an adnominal modifier is part of the kind
    ("is the door open or closed? build a classifier", ["open", "closed"]),  # "is the X A or B"
    ("segment each grape (instance) with yolov8n-seg", ["grape"]),  # one kind, before "(" or "with"
    ("매장 카메라에서 손님 수를 세는 모델", ["손님"]),              # what is counted, in Korean
])
def test_lists_from_the_tenth_held_out_set_s_classes_of_miss(message, names):
    assert read(message).class_names == names


def test_a_korean_category_word_before_the_list_is_no_name():  # the eleventh held-out set's one miss
    assert read("타일 패턴 체크, 줄무늬, 민무늬 분류").class_names == ["체크", "줄무늬", "민무늬"]
    assert read("제품 상태 양호, 보통, 불량으로 분류").class_names == ["양호", "보통", "불량"]


# What the twelfth held-out set (bench/data/heldout_requests_12.jsonl) missed, by class, over other sentences.
def test_a_size_after_a_key_is_the_images_not_the_keys():
    hyper = read("classify cats and dogs for 5 epochs at 128x128").hyperparameters
    assert (hyper.epochs, hyper.image_size) == (5, 128)


@pytest.mark.parametrize("message", ["정상 타일 사진만 있어요. 깨진 타일을 찾고 싶어요",
                                     "멀쩡한 병 사진만 모았어요, 불량을 이상으로 잡아줘"])
def test_only_normal_images_in_korean_ask_for_anomaly_detection(message):
    assert read(message).task == "anomaly_detection"


def test_one_kind_before_a_participle():
    assert read("detect plastic bags floating on the lake").class_names == ["plastic bag"]
    assert read("detect people walking in the mall").class_names == ["person"]
    assert read("outline every building in aerial images").class_names == ["building"]  # a kind that ends in -ing


@pytest.mark.parametrize("message, uri", [
    ("use the dataset shapes-v2, classify cats and dogs", "name:shapes-v2"),  # a determiner is no name; what follows is
    ("train resnet18 on my dataset please.", None),                          # a word after "dataset" that is no identifier
    ("use the dataset thanks", None),
    ("classify the photos in dataset ds-2 into indoor and outdoor", "name:ds-2"),  # a name that a clause follows
    ("use dataset site-a for training", "name:site-a"),
    ("데이터셋 xray-fractures로 학습해줘", "name:xray-fractures"),               # ... or a Korean particle
])
def test_a_name_after_the_word_dataset_looks_like_one(message, uri):
    dataset = read(message).dataset
    assert (dataset.uri if dataset else None) == uri


def test_a_quoted_name_after_the_word_dataset():
    assert read("my dataset 'bolts-v1' has bolts and nuts; detect them").dataset.uri == "name:bolts-v1"


def test_a_korean_model_size_is_no_kind_to_find():
    assert read("욜로v8 스몰로 검출").class_names is None
    assert not any(n in ("no", "not") for n in read("classify scans: covid / pneumonia / no finding").class_names or [])


def test_which_one_of_them_in_korean_asks_for_classification():  # the eighth held-out set's one miss
    assert read("버섯 12종 중 어떤 건지 알려주는 모델").task == "classification"
    assert read("이 새가 어떤 것인지 맞히는 모델 만들어줘").task == "classification"


def test_no_gpu_said_in_korean_trains_on_cpu():
    assert read("고양이 개 분류, GPU는 없어요").resources.use_gpu is False


# What the second held-out set of long requests (bench/data/heldout_long_requests_2.jsonl) showed, by class.
@pytest.mark.parametrize("message, names", [
    ("classify sneakers, boots and sandals so that search works", ["sneaker", "boot", "sandal"]),  # a clause after
    ("segment flooded and dry land after storms", ["flooded", "dry land"]),
    ("At our plant, operators check every bottle by eye. We want to automate that", None),  # two clauses, no list
    ("detect people with masks and people without masks", ["person with mask", "person without mask"]),
    ("detect cars with plates or cars without plates", ["car with plate", "car without plate"]),
    ("segment each tooth and any filling in dental x-rays", ["tooth", "filling"]),  # "any", like an article
])
def test_long_requests_name_no_clause_as_a_class(message, names):
    assert read(message).class_names == names


@pytest.mark.parametrize("message, names", [  # the fourteenth held-out set's classes of miss
    ("label every pixel as road, lane marking, vehicle or pedestrian", ["road", "lane marking", "vehicle", "pedestrian"]),
    ("detect rust spot and dent on car doors", ["rust spot", "dent"]),  # a noun that is also a verb, at an item's end
    ("find cracks and potholes marking them in red", ["crack", "pothole"]),  # ... and a verb after one
    ("cameras see plastic, glass, paper and metal items", ["plastic", "glass", "paper", "metal"]),  # a shared head
    ("sort red, green and blue objects", ["red", "green", "blue"]),
    ("detect tools, cables and misplaced items", ["tool", "cable", "misplaced item"]),  # nouns: no shared head
    ("shelf photos show cereal, pasta and rice; detect each", ["cereal", "pasta", "rice"]),
    ("we have bolts and nuts and we'd like them counted", ["bolt", "nut"]),  # a contraction starts a clause
])
def test_lists_after_seeing_verbs_with_shared_heads_and_two_word_names(message, names):
    assert read(message).class_names == names


@pytest.mark.parametrize("message, names", [  # the fifteenth held-out set's classes of miss
    ("can u make a model that spots fake vs real banknotes? efficientnet_b0", ["fake", "real"]),  # no model question
    ("classify normal or pneumonia x-rays", ["normal", "pneumonia"]),  # a plural head shared by modifiers
    ("sort red, green and blue cars", ["red", "green", "blue"]),
    ("classify cats or wild dogs", ["cat", "wild dog"]),  # plural nouns share no head
    ("I want masks for every nucleus. yolov8n-seg", ["nucleus"]),  # one kind after the shape to draw
    ("a detector that puts boxes around individual trees in orchards", ["tree"]),
    ("detect scratch and dent on phone cases", ["scratch", "dent"]),  # a defect, not "from scratch"
])
def test_shared_heads_one_kind_after_boxes_and_the_word_scratch(message, names):
    assert read(message).class_names == names and read(message).command is None


def test_vs_between_two_named_models_is_still_a_question():
    assert read("yolov8n vs yolov8s?").command == "models"
    assert read("train resnet18 from scratch on cats and dogs").pretrained is False
    assert read("detect scratch and dent on phone cases").pretrained is None


@pytest.mark.parametrize("message, field, value", [
    ("train a mobilenetv3_large_100 to recognise 5 hand gestures", "num_classes", 5),
    ("classify 500 images of cats and dogs", "num_classes", 2),  # images are no classes
    ("야생 사진에서 사슴 검출. yolo11m, 이미지 960, GPU 3개", "image_size", 960),  # a size after the bare word
    ("이미지 500장으로 사슴 검출", "image_size", None),  # a count of images
])
def test_counts_after_a_verb_and_a_korean_size_after_the_word_image(message, field, value):
    intent = read(message)
    assert (intent.hyperparameters.image_size if field == "image_size" else getattr(intent, field)) == value


@pytest.mark.parametrize("message, names", [  # the sixteenth held-out set's classes of miss
    ("yolov8n for license plates + vehicles", ["license plate", "vehicle"]),  # "+" joins names
    ("detect fish in underwater footage (just one class, fish)", ["fish"]),  # one class said: its kind
    ("instance segmentation of pedestrians for a crosswalk camera", ["pedestrian"]),
    ("detection of every forklift in the warehouse", ["forklift"]),
    ("횡단보도 카메라 보행자 인스턴스 분할, yolo11s-seg", ["보행자"]),
])
def test_plus_joins_names_and_one_kind_after_segmentation_of(message, names):
    assert read(message).class_names == names


@pytest.mark.parametrize("message, size", [
    ("classify belts, convnext_small, 224", 224),  # a size alone among the options
    ("yolo11s-seg, 640, on my uploaded data", 640),
    ("resnet18, 256, cats and dogs", None),  # 256 may be a batch: no guess
    ("detect cars, 100 epochs", None),
])
def test_a_usual_image_size_alone_among_the_options(message, size):
    assert read(message).hyperparameters.image_size == size


@pytest.mark.parametrize("message", ["yolov8n for plates, cpu is fine", "just a cpu, detect plates", "detect plates, cpu only"])
def test_cpu_said_casually_trains_on_cpu(message):
    assert read(message).resources.use_gpu is False


@pytest.mark.parametrize("message, names", [  # the seventeenth held-out set's classes of miss
    ("need boxes around cyclists and scooters from our traffic cams", ["cyclist", "scooter"]),
    ("교통 카메라에서 자전거 탄 사람이랑 킥보드 박스 쳐줘", ["자전거 탄 사람", "킥보드"]),  # a name with a verb in it
    ("헬멧 쓴 사람이랑 안 쓴 사람 검출", ["헬멧 쓴 사람", "안 쓴 사람"]),
    ("타일 패턴 체크, 줄무늬, 민무늬 분류", ["체크", "줄무늬", "민무늬"]),  # 패턴 ends like 쓴 but is a noun
    ("count the number of people in each room from ceiling cameras, detect people", ["person"]),  # the verb's object
    ("천장 카메라로 방마다 사람 수 세기, 사람 검출", ["사람"]),  # not the place each is in
    ("사진 속 사람마다 박스를 검출해줘", ["사람"]),
])
def test_names_with_a_verb_in_them_and_the_object_counted_not_its_place(message, names):
    assert read(message).class_names == names


@pytest.mark.parametrize("message, task, names, model", [  # the eighteenth held-out set's classes of miss
    ("분류 라인에서 찢어진 상자, 찌그러진 상자, 젖은 상자를 검출하고 싶어요. yolov8s", "detection",
     ["찢어진 상자", "찌그러진 상자", "젖은 상자"], "yolov8s"),  # two tasks said: the model's; no place in a name
    ("tell apart male and female ginkgo trees from leaf photos, convnext_tiny", "classification", ["male", "female"],
     "convnext_tiny"),  # a two-word head shared by modifiers
    ("GPR 스캔에서 철근, 배관, 케이블 박스로 찾아줘. yolov8n", "detection", ["철근", "배관", "케이블"], "yolov8n"),
])
def test_the_models_task_settles_two_and_heads_and_boxes_are_no_names(message, task, names, model):
    intent = read(message)
    assert (intent.task, intent.class_names, intent.model.name) == (task, names, model)


@pytest.mark.parametrize("message, task, names", [  # the nineteenth held-out set (terse) classes of miss
    ("mask rcnn style instance seg for cells pls, 40 ep", "segmentation", ["cell"]),
    ("train an object detector for forklifts", "detection", ["forklift"]),
    ("clf: jellyfish / octopus / squid. effnet b0, 25ep", "classification", ["jellyfish", "octopus", "squid"]),
    ("CCTV 화면에서 연기랑 불꽃 조기 검출", "detection", ["연기", "불꽃"]),  # an adverb after the last name
    ("점이 흑색종인지 양성 모반인지 분류", "classification", ["흑색종", "양성 모반"]),  # two words, after the subject
    ("road scenes -> drivable area vs not, semantic, segformer-b0", "segmentation", ["drivable area", "not drivable area"]),
    ("a classifier: is the weld cracked or not?", "classification", ["cracked", "not cracked"]),
    ("치아 하나하나 분할해주세요, yolov8s-seg, 1024px, 올린 데이터셋", "segmentation", ["치아"]),  # no unit, no 올린
])
def test_terse_requests(message, task, names):
    intent = read(message)
    assert (intent.task, intent.class_names) == (task, names)


def test_nicknames_and_epochs_glued_to_their_number():
    intent = read("clf: cats / dogs. effnet b0, 25ep")
    assert (intent.model.name, intent.hyperparameters.epochs) == ("efficientnet_b0", 25)


@pytest.mark.parametrize("message, task, names, count", [  # the twentieth held-out set's classes of miss
    ("운동화 브랜드는 나이키, 아디다스, 퓨마 3개예요. 분류", "classification", ["나이키", "아디다스", "퓨마"], 3),
    ("진열대의 빈 칸이랑 잘못 놓인 상품 검출, yolov8s", "detection", ["빈 칸", "잘못 놓인 상품"], 2),
    ("Spot anything odd on the bottle caps; we only have good caps", "anomaly_detection", None, None),
    ("classify the 5 stages of diabetic retinopathy (0 to 4), efficientnet_b4", "classification", None, 5),
    ("당뇨망막병증 5단계 (0~4) 분류", "classification", None, 5),
    ("I'd like boxes around license plates only, in parking garage footage", "detection", ["license plate"], 1),
    ("1080p 주차장 영상에서 번호판만 박스 쳐줘", "detection", ["번호판"], 1),
    ("과수원 사진에서 사과마다 박스 쳐줘", "detection", ["사과"], 1),
    ("건물 사진에서 지붕, 벽, 창문, 문 시맨틱 분할", "segmentation", ["지붕", "벽", "창문", "문"], 4),
])
def test_lead_ins_and_the_ways_one_kind_or_a_count_is_said(message, task, names, count):
    intent = read(message)
    assert (intent.task, intent.class_names, intent.num_classes) == (task, names, count)


def test_numbers_that_are_no_settings_set_nothing():
    intent = read("We have about 2000 photos from 3 brands and 12 store cameras at 1080p, line 3; classify, resnet50")
    assert (intent.hyperparameters.image_size, intent.hyperparameters.batch_size, intent.resources.num_workers) \
        == (None, None, None)
    assert read("tell cats from dogs, quick test: resnet18, 2 epochs, 64px, cpu").resources.use_gpu is False


@pytest.mark.parametrize("message, task", [  # the third long set's classes of miss: the task said without its name
    ("We want a model that looks at the main photo and assigns one of our 14 categories", "classification"),
    ("Each wafer map gets exactly one of the nine pattern names.", "classification"),
    ("The first triage step is deciding whether the photo shows a damaged parcel, an intact parcel or something "
     "unrelated.", "classification"),
    ("There is always one product in the frame, so we only need the label for the whole picture.", "classification"),
    ("We have endless photos of good cookies. Raise an alarm when a cookie doesn't look like a normal one.",
     "anomaly_detection"),  # not the kinds of fault it mentions
    ("A camera watches the glass stream; we'd rather learn what normal glass looks like and be told about anything "
     "else.", "anomaly_detection"),
    ("Measure coral and sand: every pixel assigned to one of these four categories.", "segmentation"),
])
def test_a_long_request_says_its_task_by_what_it_wants(message, task):
    assert read(message).task == task


@pytest.mark.parametrize("message, task", [  # the fourth long set's classes of miss
    ("When a car enters, the entrance camera takes a picture, and we'd like the system to say whether it is a compact, "
     "a sedan, an SUV or a van.", "classification"),
    ("For each close-up photo of a skin lesion, I want the exact boundary of the lesion traced so students can compare "
     "their own outlines with it.", "segmentation"),  # "students" holds no dent; "compare" is no command here
    ("Reply with the most likely condition: healthy, overwatered or pest damage, based on the whole photo.",
     "classification"),
    ("The robot arm needs the position of every part in the overhead image, and its type: bolts, nuts and washers.",
     "detection"),
    ("Each retinal photo should be graded as no referral needed or referral needed.", "classification"),
    ("From beach photos, the model must mark exactly which parts of the image are plastic and which are sand.",
     "segmentation"),
    # the fifth long set's classes of miss
    ("Adjusters need to know which part of the car is shown in each photo: door, hood or bumper. One label per photo "
     "is enough.", "classification"),
    ("In the underwater camera images, sea lice are small dots on the salmon's skin; we want every louse found and "
     "marked with a small box.", "detection"),
    ("Tag each uploaded artwork with its style: cubism, pop art or realism. The whole image decides the style.",
     "classification"),
    ("Each photo shows one red panda, and we want to know which of our eight red pandas it is, by name.",
     "classification"),
    ("The display case camera takes a photo every hour; staff want to know automatically whether the case is full, "
     "half-empty or empty.", "classification"),
    # the sixth long set's classes of miss
    ("Archivists would like each photo assigned to a decade (1920s through 1990s), based on the look of the print.",
     "classification"),
    ("We have a huge archive of correctly printed label images and want the camera system to learn them and flag "
     "labels that look off.", "anomaly_detection"),
    # the seventh long set's classes of miss
    ("Sellers photograph covers, and we want to recognise the genre of each book from its cover: fiction, cookbook or "
     "comic, one genre per cover.", "classification"),
    ("A pathology group wants nuclei delineated on H&E tiles: every nucleus needs its own outline.", "segmentation"),
    ("Children photograph everyday objects and the app names the object: cup, spoon, chair. There is one object in "
     "each picture.", "classification"),
])
def test_a_long_request_says_its_task_by_what_it_wants_more(message, task):
    intent = read(message)
    assert (intent.task, intent.command) == (task, None)


def test_plurals_in_zes_and_oes():
    assert [singular(w) for w in ("sizes", "shoes", "potatoes", "boxes", "buzzes")] == ["size", "shoe", "potato", "box",
                                                                                      "buzz"]


@pytest.mark.parametrize("message, names", [
    ("we want to know whether the returned pair looks new, lightly worn or heavily worn, classify",
     ["new", "lightly worn", "heavily worn"]),
    ("We research glaciers and have years of satellite images; segment ice", ["ice"]),  # "and have ...": a clause
    ("the pole cameras should detect bicycles parked at stations", ["bicycle"]),
])
def test_verbs_in_long_requests_are_no_names(message, names):
    assert read(message).class_names == names


def test_only_photos_of_good_ones_is_anomaly_detection():  # the twenty-fourth held-out set's one miss
    assert read("we only have photos of good hazelnuts; find the bad ones. 40 epochs").task == "anomaly_detection"


def test_dental_x_rays_are_no_inspection():
    assert read("panoramic dental x-rays of students").task is None


@pytest.mark.parametrize("message", [
    "label each map with one pattern (center, edge-ring, scratch, donut and so on), classify",
    "classify fruit: apple, pear, plum etc.",
    "사과, 배, 감 등을 분류",
    "we crop them out and catalogue them, then classify",  # verbs before "them"
    "a segmentation model: there is always one product in the frame, centred, so we know",  # two clauses
])
def test_examples_and_verbs_are_no_class_list(message):
    assert read(message).class_names is None


def test_a_participle_after_a_plural_ends_the_name():  # then the head is shared, as without it
    assert read("classify broken and burnt cookies reaching customers").class_names == ["broken", "burnt"]


@pytest.mark.parametrize("message, field, value", [  # the twenty-first held-out set's classes of miss
    ("recognize sign language letters A to Z from hand photos, classify", "num_classes", 26),
    ("수어 알파벳 A부터 Z까지 인식하는 분류 모델", "num_classes", 26),
    ("classify handwritten digits 0 to 9", "num_classes", 10),
    ("Train an image classifier for our 3 coffee roast levels", "num_classes", 3),
    ("엑스레이 골절 분류: 골절 / 골절 없음. resnet34", "class_names", ["골절", "골절 없음"]),
    ("물 샘플 사진에서 모기 유충 하나하나 찾기, yolov8n", "class_names", ["모기 유충"]),
    ("나무에 달린 사과 하나하나 분할하고 싶어요", "class_names", ["사과"]),
    ("anomaly detection for zipper teeth, 50 epochs, dataset zippers", "dataset", "name:zippers"),
    ("classify cats and dogs, dataset please", "dataset", None),
])
def test_ranges_counted_states_after_a_slash_two_word_kinds_and_a_dataset_alone(message, field, value):
    intent = read(message)
    got = intent.dataset.uri if field == "dataset" and intent.dataset else None if field == "dataset" \
        else getattr(intent, field)
    assert got == value


def test_one_kind_before_between_or_along():  # the twenty-second held-out set's one miss
    assert read("I need to detect weeds between crop rows in field images").class_names == ["weed"]
    assert read("find cracks along the rails, yolov8n").class_names == ["crack"]


@pytest.mark.parametrize("message, names", [  # the twenty-third held-out set's classes of miss (mixed, terse)
    ("resnet50 classification 모델 만들어줘, class는 normal이랑 tumor, epoch 30", ["normal", "tumor"]),
    ("ok so I have photos of shelves and I want boxes on each bottle and can. yolov8n", ["bottle", "can"]),
    ("선반 사진인데 병이랑 캔마다 박스 쳐주세요. yolov8n", ["병", "캔"]),
    ("나무에 달린 귤 인스턴스 분할, yolov8s-seg", ["귤"]),  # a one-syllable kind
    ("classify whether a panel is clean, dusty or has cracks", ["clean", "dusty", "crack"]),  # a verb before the last
])
def test_mixed_languages_can_as_a_noun_and_clause_endings(message, names):
    assert read(message).class_names == names


@pytest.mark.parametrize("message, field, value", [  # the twenty-fifth held-out set's classes of miss
    ("CCTV로 주차장에 있는 차량이랑 사람 위치를 찾고 싶어요", "class_names", ["차량", "사람"]),  # "있는": no name
    ("의료 영상에서 간 종양 영역만 분할하고 싶습니다", "class_names", ["간 종양"]),
    ("양품 이미지만으로 이상 탐지 모델을 만들고 싶어요. 데이터셋은 bearing-ok, 에폭 50", "dataset", "name:bearing-ok"),
])
def test_korean_verbs_before_names_regions_and_a_dataset_after_its_particle(message, field, value):
    intent = read(message)
    assert (intent.dataset.uri if field == "dataset" else intent.class_names) == value


@pytest.mark.parametrize("message, task, names", [  # the twenty-sixth held-out set: task words typed wrong
    ("clasify my photos of cats and dogs with resnet18", "classification", ["cat", "dog"]),
    ("detcet cars and bikes in street images, yolov8n", "detection", ["car", "bike"]),
    ("segement roads and buildings from satellite images", "segmentation", ["road", "building"]),
    ("classifiy apples vs oranges, efficientnet_b0", "classification", ["apple", "orange"]),
    ("anomly detection for screws, only good samples", "anomaly_detection", None),
    ("detect helmets adn vests on workers with yolo11n", "detection", ["helmet", "vest"]),
    ("detect defects on screws; we only have good samples", "anomaly_detection", None),  # "defect" is no "detect"
])
def test_a_task_word_one_letter_off_is_read_as_spelled(message, task, names):
    intent = read(message)
    assert (intent.task, intent.class_names) == (task, names)


@pytest.mark.parametrize("message, task, names", [  # the twenty-seventh held-out set's classes of miss
    ("덤불에 달린 익은 블루베리랑 안 익은 블루베리 검출, yolov8s", "detection", ["익은 블루베리", "안 익은 블루베리"]),
    ("익은 토마토와 안 익은 토마토 구분", "classification", ["익은 토마토", "안 익은 토마토"]),
    ("our wafers are almost always fine; learn from the normal wafer images and flag the strange ones",
     "anomaly_detection", None),
])
def test_a_verb_before_a_korean_name_and_learning_from_the_normal_ones(message, task, names):
    intent = read(message)
    assert (intent.task, intent.class_names) == (task, names)


def test_defects_named_one_by_one_with_boxes_are_objects_to_detect():
    assert read("a model that localises scratches and dents on phone screens, with boxes around each").task == "detection"


@pytest.mark.parametrize("message, task, count", [
    ("고양이 품종 9개를 인식하는 모델", "classification", 9),  # a count after the word for kinds, breeds in Korean
    ("새 종류 20개 분류해줘", "classification", 20),
])
def test_a_korean_count_after_the_word_for_kinds(message, task, count):
    intent = read(message)
    assert (intent.task, intent.num_classes) == (task, count)


def test_a_single_gpu_is_one_worker_on_a_gpu():
    resources = read("train resnet18 on a single GPU").resources
    assert (resources.use_gpu, resources.num_workers) == (True, 1)


def test_a_word_that_ends_a_sentence_names_no_dataset():
    assert read("we found many damaged ones. dataset crates-1").dataset.uri == "name:crates-1"
    assert read("train on the foo.bar dataset, classify cats and dogs").dataset.uri == "name:foo.bar"


def test_a_korean_dataset_named_after_the_word_at_the_end():
    assert read("결함 분류 모델, GPU 없이, 데이터셋 weld-photos").dataset.uri == "name:weld-photos"


def test_singular_keeps_names_that_are_not_plurals():
    assert [singular(n) for n in ["glasses", "species", "bus", "grass", "daisies", "boxes", "people", "정상"]] == \
        ["glasses", "species", "bus", "grass", "daisy", "box", "person", "정상"]


def test_the_plan_trains_on_the_dataset_s_class_names_and_says_when_they_differ(tmp_path):
    records, storage = Records(f"sqlite:///{tmp_path}/r.db"), str(tmp_path / "store")
    data = make_classification(str(tmp_path / "data"), num_classes=3, per_class=3, image_size=32, seed=0)["path"]
    added = add_dataset(data, open_store(storage))
    records.add_dataset(added["dataset_id"], "ann", "shapes", added["report"])
    found = added["report"]["class_names"]  # circle, square, triangle

    def plan(message: str) -> dict:
        result = parse_offline(message, [])
        return make_plan(result, {"username": "ann", "role": "user"}, records, storage)

    same = plan("train resnet18 to classify circles, squares and triangles on the shapes dataset")
    assert same["config"]["class_names"] == found and same["warnings"] == []  # plural said, singular folders
    other = plan("train resnet18 to classify circles, squares and stars on the shapes dataset")
    assert other["config"]["class_names"] == found
    assert other["warnings"] == ["you named the classes circle, square, star; the dataset's are circle, square, "
                                 "triangle: the job trains on the dataset's"]
    closest = plan("train DeepLabV3+ on the shapes dataset")
    assert closest["config"]["model"]["name"] == "nvidia/mit-b0"
    assert "deeplabv3+ is not among this platform's models; huggingface/nvidia/mit-b0 is the closest it has for " \
           "segmentation" in closest["warnings"]
