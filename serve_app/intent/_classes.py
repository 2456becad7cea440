"""Class names from lists as people write them: "cats, dogs and birds", "정상/불량", "고양이와 개"."""
from __future__ import annotations

import re

from serve_app.intent._lexicon import HANGUL_NAMES, NUMBER_WORD, NUMBER_WORDS
from serve_app.intent._models import find_models

__all__ = ["class_names", "one_kind"]

STOP_EN = set("""
a an the of for in on into between from with using use to and or vs versus my our your their this that these those as
classify classifying classification detect detecting detection find finding segment segmentation train training model
models image images photo photos picture pictures pics data dataset sort distinguish recognize recognise tell apart
kinds kind types type classes class categories category labels label species breeds different please want need i we
me you can could would like make build let s it epoch epochs batch size lr learning rate gpu gpus worker workers
cpu run runs trial trials best better one two three four five six seven eight nine ten yolo format folder coco voc
whether if is are be which what where how many some all each other objects object things items them then also
classifies distinguishes distinguishing separate separates identify identifies detects finds
recognizes recognises spot classifier classifiers detector detectors segmenter network net imgsz img bs nano small medium large base tiny instead size
tells telling told differentiate differentiates differentiating discriminate discriminates sorts sorting separating
locate locates locating mark marks marking outline outlines outlining count counts counting flag flags flagging
at by across within inside near over under through per during via without around
see sees show shows contain contains containing include includes including have has px
anything something everything only out nearby draw draws drawing drawn based pick picks picking they
found marked detected located shown labelled labeled counted sometimes often always never usually occasionally
looks look looked seems seem give gives
but so because while although though since when unless until after before than there here nor yet just even still about
any every
""".split())
ARTICLES = ("a", "an", "the", "any", "every")
IRREGULAR = {"people": "person", "men": "man", "women": "woman", "children": "child", "mice": "mouse", "geese": "goose",
             "teeth": "tooth", "feet": "foot", "leaves": "leaf", "knives": "knife", "wolves": "wolf", "shelves": "shelf",
             "buses": "bus", "viruses": "virus", "lenses": "lens", "gases": "gas", "cacti": "cactus", "fungi": "fungus"}
UNCHANGED = ("species", "series", "glasses", "scissors", "pants", "jeans", "clothes", "news", "chess")
# "distinguish apples from oranges", "tell X from Y", "between X and Y"
FROM_PAIR = re.compile(r"(?:distinguish(?:es|ing)?|tell(?:s|ing)?|differentiat\w*|separat\w*|discriminat\w*|sort(?:s|ing)?)\s+"
                       r"(?:between\s+)?((?:[A-Za-z][\w'-]*\s+){0,2}?[A-Za-z][\w'-]*)\s+(?:from|and)\s+"
                       r"((?:[A-Za-z][\w'-]*\s*){1,3})", re.I)
STOP_KO = set("""
이미지 사진 데이터 데이터셋 모델 학습 훈련 분류 검출 탐지 분할 클래스 종류 가지 에폭 배치 학습률 그리고 및 또는 사용 이용
종 수 세기 올린 업로드한 있는 없는 보이는 시맨틱 브랜드 라벨 레이블 항목 품목 객체 물체 사물 패턴 유형 등급 단계 상태 카테고리 인스턴스 해줘 해주세요 만들어줘 하고 싶어 싶어요 원해 내가 제가 우리가 저희가 구분 판별 찾기 찾아줘 이상 불량품을 중 중에서 둘 셋 세 두 네 로 으로 워커 노드 에폭 에포크 배치 사이즈 크기 해상도 학습률 데이터는 모델은 모델로
""".split())
_PARTICLE_AFTER_VOWEL = ("와", "랑", "를", "로", "는")
_PARTICLE_AFTER_CONSONANT = ("과", "이랑", "을", "으로", "은")
_TRAILING = ("으로", "이랑", "를", "을", "로", "는", "은", "의", "까지", "마다", "씩")


_N_FINAL = "".join(chr(0xAC00 + 28 * i + 4) for i in range(399))  # syllables ending in ㄴ: 한 든 은 른 ...


def _has_final(ch: str) -> bool:
    return "가" <= ch <= "힣" and (ord(ch) - 0xAC00) % 28 != 0


def _strip_particle(word: str) -> str:
    for p in _TRAILING:
        stem = word[:-len(p)]
        if word.endswith(p) and stem:
            if p in _PARTICLE_AFTER_VOWEL and _has_final(stem[-1]):
                continue
            if p in _PARTICLE_AFTER_CONSONANT and not _has_final(stem[-1]):
                continue
            return stem
    return word


# The syllables before a final 이 in common nouns (고양이, 원숭이, 목걸이, 손잡이, 종이, 어린이, ...): "X이랑" is
# read as the noun "X이" + 랑 after them, and as X + 이랑 after any other closed syllable ("헬멧이랑", "포트홀이랑").
ENDS_IN_I = set("양숭엉렁팽랑북걸잡꽂팡종멩볶놀먹린은박맹")


def _split_joined(text: str) -> str:
    """"고양이와 개" -> "고양이 , 개" where the particle is grammatical for the word before it."""
    words = set(re.findall(r"[가-힣]+", text))

    def repl(m: re.Match) -> str:
        stem, particle = m.group(1), m.group(2)
        if particle == "랑" and stem.endswith("이") and len(stem) > 1 and _has_final(stem[-2]) \
                and (stem[:-1] in words or stem[-2] not in ENDS_IN_I):
            stem, particle = stem[:-1], "이랑"  # "잎이랑 ... 잎", "헬멧이랑": 이랑 after the name
        if particle == "하고" and stem in STOP_KO:  # "분류하고 싶어요": a verb, not "A하고 B"
            return m.group(0)
        ok = _has_final(stem[-1]) if particle in ("과", "이랑") else not _has_final(stem[-1]) if particle in ("와", "랑") else True
        return f"{stem} , " if ok else m.group(0)

    # Else the longest stem wins where two readings are grammatical ("고양이랑" is 고양이 + 랑, not 고양 + 이랑).
    text = re.sub(r"\b([A-Za-z][A-Za-z0-9_\-]*)(?:이랑|랑|와|과|하고)(?=\s+[가-힣A-Za-z])", r"\1 , ", text)  # "healthy랑 rust"
    return re.sub(r"([가-힣]+)(이랑|와|과|랑|하고)(?=\s+[가-힣A-Za-z])", repl, text)


def singular(name: str) -> str:
    """An English class name in the singular, its last word turned ("cats" -> "cat", "traffic lights" ->
    "traffic light", "people" -> "person"); other names as they are."""
    words = name.split()
    if not words or not words[-1].isascii() or not words[-1].replace("-", "").isalpha() or len(words[-1]) < 4:
        return name
    w, low = words[-1], words[-1].lower()
    if low in IRREGULAR:
        one = IRREGULAR[low]
    elif low.endswith(UNCHANGED) or low.endswith(("ss", "us", "is")):
        one = w
    elif low.endswith("ies"):
        one = w[:-3] + "y"
    elif low.endswith(("ches", "shes", "xes", "zzes", "sses", "oes")) and low not in ("shoes", "toes", "canoes", "hoes"):
        one = w[:-2]
    elif low.endswith("s"):
        one = w[:-1]
    else:
        one = w
    return " ".join([*words[:-1], one])


NOUN_OR_VERB = ("spot", "spots", "marking", "markings")  # a verb before a name ("that spots cracks"), a name at
# the end ("rust spots", "lane marking")
GENERIC_HEADS = ("item", "items", "object", "objects", "thing", "things")
CONTRACTION = re.compile(r"(?:'d|'re|'ve|'m|'ll|n't|^(?:it|that|there|here|what|let)'s)$")  # "... and we'd like": a clause
LEADING_VERBS = ("has", "contains", "shows", "includes")  # the thing's ("or has cracks"), not ours ("and have years")
CONTAINERS = ("pixel", "pixels", "region", "regions")  # "sky, water and land pixels": what holds the classes


def _clean_en(item: str, first: bool, last: bool) -> str:
    words = item.split()
    while words and (words[0].lower() in ARTICLES or not first and words[0].lower() in LEADING_VERBS):
        words.pop(0)  # "clean, dusty or has bird droppings"
    if first:  # "sort recyclables into plastic": the name follows the last stop word before it
        stops = [i for i, w in enumerate(words) if (w.lower() in STOP_EN or w.lower() in NOUN_OR_VERB and i < len(words) - 1)
                 and any(x.lower() not in STOP_EN for x in words[i + 1:])]
        words = words[stops[-1] + 1:] if stops else words
    if last:  # "cats and dogs in my photos": the name ends where the sentence goes on
        words = words[:_name_end(words)]
    while len(words) > 1 and words[-1].lower() in CONTAINERS:
        words.pop()
    return " ".join(words)


NEGATING = ("un", "non", "non-", "in", "im", "ir", "il", "dis", "over", "under")


def _shared_head(items: list[str]) -> list[str]:
    """The modifiers where all name one kind of thing: "healthy leaves" / "diseased ones" and
    "ripe", "overripe" / "unripe bananas" -> "healthy" / "diseased", "ripe", "overripe", "unripe"."""
    words = [p.split() for p in items]
    if len(words) < 2 or not all(words):
        return items
    if len(words) == 2 and [len(w) for w in words] == [2, 2] and words[1][1].lower() in ("one", "ones"):
        return [words[0][0], words[1][0]]
    *rest, last = words
    head = last[-1].lower()
    if len(last) in (2, 3) and (head in GENERIC_HEADS or singular(head) != head) \
            and all(len(w) == 1 and singular(w[0]) == w[0] for w in rest):
        return [w[0] for w in rest] + [last[0]]  # "plastic, glass and metal items", "fake vs real notes": one head
    firsts = [w[0].lower() for w in rest]
    mods = [*firsts, last[0].lower()]  # "ripe / unripe / rotten strawberries": a negated pair among them
    if all(len(w) == 1 for w in rest) and len(last) == 2 and any(
            a == n + b for n in NEGATING for a in mods for b in mods):
        return [w[0] for w in rest] + [last[0]]
    if len(words) == 2 and [len(w) for w in words] == [2, 1] and any(
            words[0][0].lower() == n + words[1][0].lower() or words[1][0].lower() == n + words[0][0].lower()
            for n in NEGATING):
        return [words[0][0], words[1][0]]
    return items


KO_NEGATED = "없음|아님|미착용|있음"  # "골절 없음", "안전모 미착용": a state after a name, part of it
EXAMPLES = r"\band\s+so\s+on\b|\betc\b|\band\s+(?:many\s+)?(?:more|others)\b|\.\.\.|…"  # a list of examples
IS_THE_THING = r"\b(?:is|are|was|were)\s+(?:(?:this|that|these|those|the|my|our|your|its|a|an)\s+)?$"
COUNTED = re.compile(rf"\s*(?:\d+|{NUMBER_WORD})\s*(?:classes|class|클래스|가지|종류)")  # "helmet, no_helmet 두 클래스로": a list by its count
WITH_PAIR = re.compile(r"\b([A-Za-z]+)\s+with\s+([A-Za-z]+)\s+(?:and|or|vs\.?|versus)\s+(?:\1\s+)?without\s+\2\b", re.I)

CLAUSE_VERBS = ("classify", "detect", "find", "segment", "sort", "distinguish", "recognize", "recognise", "identify",
                "locate", "count", "separate")

# "detect boats in harbour images", "masks for each car in", "detecting person boxes": one kind of object
ONE_KIND = re.compile(r"\b(?:detect|find|locate|segment|count|spot|track|mask|outline)(?:s|ing|ed)?\s+"
                      r"(?:(?:each|every|all|the|individual|any|single)\s+)*"
                      r"((?:[a-z][a-z\-]{2,}\s+)?(?!(?:boxes|masks|outlines)\b)[a-z][a-z\-]{2,})\s+"
                      r"(?:[a-z]+ing\s+)?(?:boxes\s+|masks\s+|outlines\s+)?(?:in|on|from|within|across|at|through|between|along|among|around|near|inside|under)\b"
                      r"|\b(?:each|every)\s+(?:individual\s+|single\s+)?([a-z][a-z\-]{2,})\s+(?:in|on|from|within)\b"
                      r"|\b(?:detect|segment|mask|outline|locate)(?:s|ing)?\s+(?:(?:the|each|every|all)\s+)?([a-z][a-z\-]{2,})"
                      r"(?=\s*(?:[,.;(]|$|w/|with\b|using\b))"  # "detect potholes w/ ...", "segment each strawberry (instance)"
                      r"|\b(?:model|detector|segmenter|seg)\s+for\s+(?:the\s+)?([a-z][a-z\-]{2,})(?:\s+(?:in|on|from)\b"
                      r"|(?=\s*(?:[,.;]|$|\s(?:pls|please)\b)))"  # "instance seg for cells pls"
                      r"|\b(?:detect|find|locate|segment|count)(?:s|ing)?\s+([a-z][a-z\-]{2,})\s+(?:boxes|masks)\b"
                      r"|\b(?:boxes|masks|outlines)\s+(?:for|around|of|on)\s+(?:(?:each|every|all|the|individual)\s+)*"
                      r"((?:[a-z][a-z\-]{2,}\s+)?[a-z][a-z\-]{2,})(?=\s*(?:[,.;(?]|$)|\s+(?:in|on|from|with|using|only)\b)"  # "masks for every nucleus."
                      r"|\b(?:detection|segmentation)\s+of\s+(?:(?:each|every|all|the|individual)\s+)*([a-z][a-z\-]{2,})"
                      r"(?=\s*(?:[,.;(]|$)|\s+(?:in|on|from|for|at)\b)", re.I)  # "instance segmentation of pedestrians for"


# "토마토 하나하나", "사과마다", "각 차량을", "모든 물고기를": one kind of object, each of them
ONE_KIND_KO = re.compile(rf"(?<![가-힣])((?:(?!사진|이미지|영상|위|아래|옆|앞|뒤|속)[가-힣]+(?<![을를의에서로와과{_N_FINAL}])\s+)?"
                         r"[가-힣]{1,10}?)"  # "모기 유충 하나하나": two words, unless the first ends a phrase or is a verb
                         r"\s*(?:하나하나|하나씩|각각|마다"
                         r"|한\s*(?:마리|개|명|대|그루)\s*(?:씩|한\s*(?:마리|개|명|대|그루)))"  # "양 한 마리 한 마리"
                         r"|(?<![가-힣])(?:각|모든|개별)\s+([가-힣]{1,10})(?![가-힣])"
                         rf"|에서\s+(?:(?P<mod1>[가-힣]*[{_N_FINAL}])\s+|[가-힣]+(?<![을를은는의에])\s+)?"  # "익은 딸기"
                         r"(?P<bare1>(?!하나|영역|부위|부분|각각|박스)[가-힣]{1,10}?)(?<!마다)"
                         r"(?:만을|만|을|를)?\s*(?:인스턴스\s*|시맨틱\s*|박스\s*(?:를|로)?\s*)?(?:검출|탐지|찾|분할|쳐|그려)"  # "영상에서 (차량) 번호판(만) 찾아"
                         r"|(?<![가-힣])(?P<bare4>[가-힣]{1,10}?)\s*(?:마리\s*)?(?:수를|숫자를|개수를)\s*(?:세|카운트)"  # "사람 수를 세는"
                         r"|(?<![가-힣])(?P<bare3>(?!인스턴스|시맨틱|박스)[가-힣]{1,10}(?<![을를]))\s+(?:검출|탐지|인스턴스\s*분할)"
                         r"(?:\s*(?:모델|해)|(?=\s*(?:[,.]|$|[A-Za-z])))"  # "물고기 검출 모델", "보행자 인스턴스 분할,"
                         r"|(?<![가-힣])(?P<bare2>(?:(?!사진|이미지|영상)[가-힣]+(?<![을를의에서로와과])\s+)?[가-힣]{1,10})"
                         r"\s+(?:영역|부위)(?:만을|만|을|를)?\s*분할")  # "폐 영역을 분할", "간 종양 영역만 분할"


def one_kind(text: str) -> str | None:
    """The one kind of object a detection or instance segmentation request names, when it names one."""
    if re.search(EXAMPLES, text, re.I):  # "detect cats, dogs and more": more than one kind
        return None
    found = sorted(ONE_KIND.finditer(text), key=lambda m: m.group(2) is not None)  # a verb's object before "each X in"
    found_ko = sorted(ONE_KIND_KO.finditer(text), key=lambda m: (m.group(1) or m.group(2)) is not None)  # "방마다 사람 검출"
    for m in [*found, *found_ko]:
        bare = (m.lastgroup or "").startswith("bare")  # found without a particle: 도로 stays 도로
        noun = m.group(m.lastgroup) if bare else _strip_particle(next(g for g in m.groups() if g))
        if m.groupdict().get("mod1"):
            noun = f"{m.group('mod1')} {noun}"
        if len(noun.split()) > 1 and (noun.split()[-1].lower() in CONTAINERS or noun.endswith("ing")
                                      or noun.split()[0].endswith("s") and noun.endswith("ed")):
            noun = noun.rsplit(maxsplit=1)[0]  # "each defect region", "people walking in", "bicycles parked at"
        if _valid(noun) and not any(k in noun for k in HANGUL_NAMES):  # "스몰로 검출" names a model size
            return singular(noun.lower())
    return None


SIZES = ("nano", "small", "medium", "large", "base", "tiny")  # model sizes alone; "medium roast" is a name


def _name_end(words: list[str]) -> int:
    """How many of ``words`` name a class: those before the first stop word, where a size before a noun
    goes on ("medium roast") and a generic head after a modifier is the last word ("misplaced items")."""
    low = [w.lower() for w in words]
    for i, w in enumerate(low):
        if w in SIZES and i + 1 < len(low) and (low[i + 1] not in STOP_EN or low[i + 1] in GENERIC_HEADS):
            continue
        if w in NOUN_OR_VERB and 0 < i == len(low) - 1 or w in ("can", "cans") and i == len(low) - 1:
            continue  # "rust spots", "lane marking", "each bottle and can": a name at the end
        if i and w.endswith("ing") and low[i - 1].endswith("s"):  # "burnt cookies reaching customers"
            return i
        if CONTRACTION.search(w):
            return i
        if w in STOP_EN:
            return i + 1 if i and w in GENERIC_HEADS else i
        if w in STOP_KO or _strip_particle(w) in STOP_KO:
            return i
    return len(low)


def _valid(item: str) -> bool:
    if m := re.fullmatch(r"(\S.*?) with(?:out)? (\S.*)", item):  # "person with mask": two names
        return _valid(m.group(1)) and _valid(m.group(2))
    words = item.split()
    if not words or len(item) > 40 or _name_end(words) < len(words):
        return False
    if any(w.endswith(("줘", "주세요", "세요", "요", "니다", "해서", "하여", "는데", "지만")) for w in words):  # a verb, not a name
        return False
    return not find_models(item.lower()) and not any(c.isdigit() for c in item)


def _candidates(text: str) -> list[list[str]]:
    lists = []
    for m in re.finditer(rf"(?<![\w/])[^\s/,.:;]+(?:\s*/\s*[^\s/,.:;]+)+(?:\s+(?:[A-Za-z][A-Za-z'\-]*|{KO_NEGATED}))?", text):
        items = [s.strip() for s in m.group().split("/")]
        last = items[-1]  # "glioma / pituitary / no tumor", "골절 / 골절 없음": the last item may be two words
        items[-1] = _clean_en(last, False, True) if " " in last and last.isascii() else \
            last if re.search(rf"\s(?:{KO_NEGATED})$", last) else _strip_particle(last.split()[0])
        items[-1] = last if items[-1].lower() in ("no", "not", "non") else items[-1]  # "no finding" is no "no"
        lists.append(_shared_head(items))
    word = r"(?!(?:and|or|vs|versus)\b)[A-Za-z][A-Za-z_'\-]*"  # a joining word ends an item
    item = rf"{word}(?: {word}){{0,2}}"
    sep = r"(?:\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or|vs\.?|versus|&|\+)\s+)"
    for m in WITH_PAIR.finditer(text):  # "people with masks and people without masks"
        head, thing = singular(m.group(1)), singular(m.group(2))
        lists.append([f"{head} with {thing}", f"{head} without {thing}"])
    for m in re.finditer(rf"{item}(?:{sep}{item})+", text):
        parts = re.split(sep, m.group())
        if any(p.lower() == "not" for p in parts[1:]):  # "fractured or not", "drivable area vs not": read below
            continue
        commas_only = not re.search(r"\b(?:and|or|vs|versus)\b|[&+]", m.group()) \
            and not text[:m.start()].rstrip().endswith((":", "(")) and not COUNTED.match(text[m.end():])
        if re.match(r"\s+(?:them|it|him|her|us|me)\b", text[m.end():], re.I):
            continue  # "crop them out and catalogue them": verbs
        if re.search(EXAMPLES, m.group() + text[m.end():m.end() + 12], re.I):
            continue  # "center, edge-ring, scratch, donut and so on": examples, not every class
        if re.search(IS_THE_THING, text[:m.start()], re.I) and len(parts[0].split()) > 1:
            parts[0] = parts[0].split()[-1]  # "is this mushroom edible or poisonous": the states, after the thing
        # "use my dataset, classify cats and dogs": a clause before the verb that starts the list
        starts = [0, *(k for k in range(1, len(parts) - 1) if parts[k].split()[0].lower() in CLAUSE_VERBS)]
        for k in starts:
            cleaned = [c for c in (_clean_en(p, i == k, i == len(parts) - 1) for i, p in enumerate(parts) if i >= k) if c]
            if not (commas_only and len(cleaned) == 2):  # "In our lab, technicians": two clauses; names are joined by a word
                lists.append(_shared_head(cleaned))  # "... and we'd like": no item
    for m in re.finditer(r"\b((?:[A-Za-z][\w'-]*\s+)?[A-Za-z][\w'-]*)\s+(?:or|vs\.?|versus)\s+not\b", text, re.I):
        name = _clean_en(m.group(1), True, True)  # "is it fractured or not", "drivable area vs not"
        if re.search(IS_THE_THING, text[:m.start()], re.I):
            name = name.split()[-1] if name else name  # "is the weld cracked or not": the state, after the thing
        lists.append([name, f"not {name}"] if name else [])
    for m in FROM_PAIR.finditer(text):
        lists.append(_shared_head([_clean_en(m.group(1), True, True), _clean_en(m.group(2), True, True)]))
    for m in re.finditer(r"(?<![가-힣])([가-힣]+?)(?:인지|이냐|냐)\s+아닌지", text):
        lists.append([m.group(1), f"{m.group(1)} 아님"])  # "골절인지 아닌지", as "fractured or not"
    for m in re.finditer(r"((?:[가-힣]+\s+)?[가-힣A-Za-z]+?)(?:인지|냐)\s+((?:[가-힣]+\s+)?[가-힣A-Za-z]+?)(?:인지|냐)(?![가-힣])",
                         text):  # "고양이인지 개인지", "점이 흑색종인지 양성 모반인지"
        first = m.group(1).split()
        subject = len(first) > 1 and (_ends_phrase(first[0]) or first[0].endswith(("이", "가", "은", "는", "도")))
        lists.append([first[-1] if subject else m.group(1), m.group(2)])
    ko_text = BOX_DRAWN.sub(" ", _split_joined(text))
    korean = re.search("[가-힣]", text) is not None  # a Korean request; its names may be Latin ("normal이랑 tumor")
    for m in KO_LIST.finditer(ko_text):
        parts = [p for p in KO_JOINED.split(m.group()) if p]
        if re.search(r"\s등(?:을|이|의|과|으로|은)?$", m.group()) or re.match(r"\s*등(?![가-힣])", ko_text[m.end():]) \
                or re.search(EXAMPLES, ko_text[m.end():m.end() + 12], re.I):
            continue  # "사과, 배, 감 등": examples
        while len(parts) > 2 and not _valid(_ko_item(parts[0], True, False)):
            parts.pop(0)  # "..에 있고요, healthy, rust, scab": the list starts at its first name
        ends = next((i for i, p in enumerate(parts) if i and _ko_tail(p)), len(parts) - 1)
        parts = parts[:ends + 1]  # "정상 또는 폐렴으로 분류해줘, 내가 ...": the list ends at 폐렴
        while len(parts) > 2 and not _valid(_ko_item(parts[-1], False, True)):
            parts.pop()  # "normal이랑 tumor, epoch 30": a setting after the list
        if len(parts) > 1 and korean:
            lists.append([_ko_item(p, i == 0, i == len(parts) - 1) for i, p in enumerate(parts)])
    for m in re.finditer(r"((?:[가-힣]+\s+){2,10}?)([가-힣]+|\d+)\s*(?:종류|가지|종)(?![가-힣])", ko_text):
        words, n = m.group(1).split(), m.group(2)  # "고양이 개 토끼 세 종류": as many names as the count
        if n.isdigit() or n in NUMBER_WORDS:
            k = int(n) if n.isdigit() else NUMBER_WORDS[n]
            if 2 <= k <= len(words):
                lists.append(words[-k:])
    return lists


BOX_DRAWN = re.compile(r"\s*(?:바운딩\s*)?박스\s*(?:를|로|으로)?\s*(?=쳐|그려|치|찾|검출|표시|잡)")  # "킥보드 박스 쳐줘": drawn
KO_JOINED = re.compile(r"\s*(?:,|·|및|그리고|\s또는\s|\s혹은\s)\s*")  # "정상 또는 폐렴"
_ADNOMINAL = rf"(?:[{_N_FINAL}]|[가-힣]{{1,2}}[은진인린힌])\s+"  # "쓴", "입은", "깨진", "놓인"; not "찾는", "패턴"
_KO_ITEM = rf"(?:(?:안|못|[가-힣]+(?<![을를로에의{_N_FINAL}])(?<!에서))\s+{_ADNOMINAL}|[가-힣]+\s+)?[가-힣A-Za-z]+"  # "헬멧 쓴 사람"
KO_LIST = re.compile(rf"{_KO_ITEM}(?:{KO_JOINED.pattern}{_KO_ITEM})+")
KO_TAILS = ("영역", "픽셀", "부분", "부위", "위치", "조기", "실시간", "자동")  # "하늘, 물, 땅 영역", "팔레트 위치": not part of the name
_ENDS_A_PHRASE = ("에서", "에게", "에", "의", "을", "를", "과", "와", "으로", "로", "이랑", "랑")  # never a modifier's


def _ends_phrase(word: str) -> bool:
    """"사진에서", "건물을": a particle closes the phrase, so the next word starts another."""
    return word in _ENDS_A_PHRASE or word.endswith(("에서", "에게", "에", "의", "는데", "인데", "한데")) \
        or word.endswith(_ENDS_A_PHRASE) and _strip_particle(word) != word  # "MRI를 신경교종": 를 alone too


def _ko_tail(item: str) -> bool:
    """Two words of which the second is not part of a name: the list's last item ("폐렴으로 분류해줘",
    "팔레트 검출하는", "땅 영역을")."""
    words = item.split()
    if len(words) != 2:
        return False
    second = _strip_particle(words[1])
    return _ends_phrase(words[0]) or second in KO_TAILS \
        or not _valid(item) or any(second.startswith(w) for w in STOP_KO if len(w) > 1)


KO_PLACES = ("위", "아래", "옆", "안", "속", "앞", "뒤", "밖", "근처", "주변")  # "벨트 위 사과와": where, before a name


def _ko_item(item: str, first: bool, last: bool) -> str:
    """One item of a Korean list: two words are one name ("속도 제한", "병든 잎") unless one of them is
    not part of it: "사진에서 하늘" starts the list at 하늘, "건물을 픽셀" and "흐림 판별" end it at the first."""
    words = item.split()
    if len(words) == 2:
        if first and (_ends_phrase(words[0]) or not _valid(words[0]) or words[0] in KO_PLACES):
            return _strip_particle(words[1]) if last else words[1]
        if last and _ko_tail(item):
            return _strip_particle(words[0])
    return _strip_particle(item) if last else item


def class_names(text: str, models: list[str] = ()) -> list[str] | None:
    """The longest list of two or more names in ``text``, leaving out the ``models`` mentioned there."""
    for model in models:
        text = re.sub(re.escape(model), " ", text, flags=re.IGNORECASE)
    best: list[str] = []
    for items in _candidates(text):
        kept = [i for i in items if _valid(i)]
        if len(kept) >= 2 and len(kept) == len([i for i in items if i]) and len(kept) > len(best):
            best = kept
    return list(dict.fromkeys(singular(b) for b in best)) or None
