#!/usr/bin/env python3
"""plantune-tui's GRPO rewards for other engines (standard library only).

Mirrors src/train/grpo/rewards.rs: the components are named as plantune-tui logs them
(answer, format, plan, length) and scored unweighted; the weights live in
reward_weights.json beside this file (written by `plantune-tui dataset bundle`).

- TRL: `reward_funcs()` returns [answer, format, plan(, length)] for GRPOTrainer, whose
  `reward_weights` are `trl_reward_weights()`; the dataset columns `answer`, `plan` and
  `question` reach them as keyword arguments.
- verl: `compute_score(data_source, solution_str, ground_truth, extra_info)` returns the
  weighted total with each component beside it.
- `python3 rewards.py --self-test` scores fixtures.json (completions scored by
  plantune-tui's Rust code) and exits 0 only when every score agrees.

The answer check covers what GRPO on word problems needs: the last \\boxed{} (or a
`#### x` line, an "answer is x" line, the last number), then numbers by value (integers,
decimals, thousands separators, fractions, percents, units words dropped) and other
answers by normalised spelling. plantune-tui's own grader also decides symbolic
equivalence (radicals, intervals, matrices); fixtures cover only the shared part.
"""

import json
import math
import os
import re
import sys
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))
ANSWER_VALUE = 2.0
DEFAULT_WEIGHTS = {"answer": 1.0, "format": 0.5, "plan": 0.5, "length": 0.0, "length_cache": 32}


# ---- reading completions -------------------------------------------------------------

def split_plan(completion):
    """(plan, execution) of a `Plan:` ... `Execution:` ... completion, else None."""
    at = completion.find("Plan:")
    if at < 0:
        return None
    rest = completion[at + len("Plan:"):]
    ex = rest.find("Execution:")
    if ex < 0:
        return None
    return rest[:ex].strip(), rest[ex + len("Execution:"):].strip()


def last_boxed(text):
    at = text.rfind("\\boxed{")
    if at < 0:
        return None
    start = at + len("\\boxed{")
    depth = 1
    for i in range(start, len(text)):
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start:i].strip()
    return None


def _strip_emphasis(text):
    t = text.strip()
    for mark in ("**", "__"):
        if t.startswith(mark):
            t = t[len(mark):]
        if t.endswith(mark):
            t = t[: -len(mark)]
    return t.strip()


def _after_number(text, terminators):
    digits = len(text) - len(text.lstrip("0123456789"))
    if digits == 0 or digits > 3 or digits >= len(text):
        return None
    nxt = text[digits]
    if nxt not in terminators:
        return None
    tail = text[digits + 1:]
    if tail == "" or tail[0].isspace() or tail.startswith("*"):
        return tail
    return None


def _step_label(core):
    if len(core) < 4 or core[:4].lower() != "step":
        return None
    tail = core[4:].lstrip()
    digits = len(tail) - len(tail.lstrip("0123456789"))
    if digits == 0:
        return None
    return tail[digits:].lstrip(":.)-\u2013\u2014 ")


def _classify(raw):
    trimmed = raw.lstrip()
    if not trimmed.strip():
        return None
    indent = len(raw.encode()) - len(trimmed.encode())
    for bullet in ("- ", "* ", "+ ", "\u2022 "):
        if trimmed.startswith(bullet):
            return (indent, "bullet", _strip_emphasis(trimmed[len(bullet):]))
    hashes = len(trimmed) - len(trimmed.lstrip("#"))
    if 1 <= hashes <= 6 and trimmed[hashes:].startswith(" "):
        title = trimmed[hashes:]
        label = _step_label(_strip_emphasis(title))
        if label is not None:
            return (indent, "step", _strip_emphasis(label))
        return (indent, "heading", _strip_emphasis(title))
    core = trimmed
    for mark in ("**", "__"):
        if core.startswith(mark):
            core = core[len(mark):]
            break
    label = _step_label(core)
    if label is not None:
        return (indent, "step", _strip_emphasis(label))
    rest = _after_number(core, ".)")
    if rest is not None:
        return (indent, "numbered", _strip_emphasis(rest))
    text = trimmed.rstrip()
    if len(text.encode()) > 4 and text.startswith("**") and text.endswith("**"):
        return (indent, "heading", _strip_emphasis(text))
    return (indent, "text", _strip_emphasis(trimmed))


def plan_steps(plan):
    """A plan's steps: numbered items, `Step N:` labels, headed sections or bullets."""
    lines = [_classify(l) for l in plan.splitlines()]
    present = [l for l in lines if l is not None]
    count = lambda marker: sum(1 for l in present if l[1] == marker)
    primary = None
    for marker, needed in (("step", 1), ("numbered", 1), ("heading", 2), ("bullet", 1)):
        if count(marker) >= needed:
            primary = marker
            break
    if primary is None:
        return [l[2] for l in present if l[2]]
    top = min(l[0] for l in present if l[1] == primary)
    steps, current, after_blank = [], None, False
    for line in lines:
        if line is None:
            after_blank = True
            continue
        indent, marker, rest = line
        if marker == primary and indent <= top + 1:
            if current is not None:
                steps.append(current)
            current = rest
        elif current is not None:
            commentary = primary != "heading" and after_blank and indent <= top and marker == "text"
            if not commentary and rest:
                current = (current + " " + rest) if current else rest
        after_blank = False
    if current is not None:
        steps.append(current)
    return [s for s in steps if s]


# ---- the answer check ----------------------------------------------------------------

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_CUES = ("the final answer is", "final answer:", "the answer is", "answer:")


def extract_answer(text):
    """The final answer in free text, or None (a box the text ends inside is none)."""
    if "\\boxed{" in text:
        return last_boxed(text) or None
    lines = [l for l in text.splitlines() if l.strip().startswith("####")]
    if lines:
        return lines[-1].strip()[4:].strip() or None
    lower = text.lower()
    for cue in _CUES:
        at = lower.rfind(cue)
        if at >= 0:
            rest = text[at + len(cue):].strip().splitlines()
            if rest and rest[0].strip():
                return rest[0].strip().rstrip(".").strip()
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def _unwrap_text(s):
    s = re.sub(r"\\(?:text|mathrm|textbf|mbox)\{([^{}]*)\}", r"\1", s)
    return s.replace("\\!", "").replace("\\,", "").replace("\\ ", " ")


def _value(s, percent_question):
    """An answer's numeric value, or None when it is not a plain number."""
    t = _unwrap_text(s).strip().rstrip(".").strip()
    t = t.replace("\\$", "").replace("$", "").strip()
    percent = t.endswith("\\%") or t.endswith("%")
    t = t.replace("\\%", "").replace("%", "").strip()
    m = re.fullmatch(r"\\d?frac\{(-?\d+)\}\{(-?\d+)\}", t) or re.fullmatch(r"(-?\d+)\s*/\s*(-?\d+)", t)
    if m:
        den = int(m.group(2))
        return None if den == 0 else Fraction(int(m.group(1)), den)
    m = re.fullmatch(r"(-?\d[\d,]*(?:\.\d+)?|-?\.\d+)(?:\s*[A-Za-z][A-Za-z ]*)?", t)
    if not m:
        return None
    digits = m.group(1)
    if "," in digits and not re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", digits):
        return None
    value = Fraction(digits.replace(",", ""))
    if percent and not percent_question:
        return ("percent", value)
    return value


def _normalise(s):
    t = _unwrap_text(s).strip().rstrip(".").strip().strip("$").strip()
    return re.sub(r"\s+", "", t).lower()


def asks_for_percent(question):
    q = (question or "").lower()
    return "percent" in q or "%" in q


def answer_correct(completion, gold, question=None):
    found = extract_answer(completion)
    if found is None:
        return False
    pq = asks_for_percent(question)
    a, b = _value(found, pq), _value(gold, pq)
    if isinstance(a, tuple) or isinstance(b, tuple):
        # "10%" against a decimal is no match; against "10%" or "10" it is.
        av = a[1] if isinstance(a, tuple) else a
        bv = b[1] if isinstance(b, tuple) else b
        if isinstance(a, tuple) and not isinstance(b, tuple) and b is not None:
            return av == bv
        if isinstance(b, tuple) and not isinstance(a, tuple) and a is not None:
            return av == bv and "." not in found
        return av == bv
    if a is not None and b is not None:
        return a == b or math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return _normalise(found) == _normalise(gold)


# ---- the components (unweighted, as plantune-tui logs them) --------------------------

def answer_score(completion, gold, question=None):
    return ANSWER_VALUE if answer_correct(completion, gold, question) else 0.0


def format_score(completion):
    parts = split_plan(completion)
    if parts is None:
        return 0.0
    plan, execution = parts
    ok = [bool(plan_steps(plan)), bool(execution), last_boxed(execution) is not None]
    return sum(ok) / 3.0


def _step_words(step):
    words = sorted(set(w.lower() for w in re.split(r"[^\w]|_", step) if w))
    return words


def _jaccard(a, b):
    if not a and not b:
        return 1.0
    shared = len(set(a) & set(b))
    return shared / (len(a) + len(b) - shared)


def step_alignment(plan, reference):
    a = [_step_words(s) for s in plan_steps(plan)]
    b = [_step_words(s) for s in plan_steps(reference)]
    if not a or not b:
        return 0.0
    best = [[0.0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            matched = best[i - 1][j - 1] + _jaccard(a[i - 1], b[j - 1])
            best[i][j] = max(matched, best[i - 1][j], best[i][j - 1])
    return best[len(a)][len(b)] / max(len(a), len(b))


def plan_score(completion, reference_plan):
    parts = split_plan(completion)
    if parts is None or not reference_plan:
        return 0.0
    return step_alignment(parts[0], reference_plan)


def length_score(completion_tokens, max_new_tokens, cache, truncated=False):
    if truncated:
        return -1.0
    free = max(max_new_tokens - cache, 0)
    if completion_tokens <= free or cache == 0:
        return 0.0
    return -min((completion_tokens - free) / cache, 1.0)


def load_weights(path=None):
    path = path or os.path.join(HERE, "reward_weights.json")
    weights = dict(DEFAULT_WEIGHTS)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            weights.update(json.load(f))
    return weights


def score_all(completion, gold, question=None, reference_plan=None,
              completion_tokens=0, max_new_tokens=0, truncated=False, weights=None):
    """Every component with a non-zero weight, unweighted, and the weighted total."""
    w = weights or load_weights()
    parts = {}
    if w["answer"]:
        parts["answer"] = answer_score(completion, gold, question)
    if w["format"]:
        parts["format"] = format_score(completion)
    if w["plan"]:
        parts["plan"] = plan_score(completion, reference_plan)
    if w["length"]:
        parts["length"] = length_score(completion_tokens, max_new_tokens, int(w["length_cache"]), truncated)
    total = sum(w[name] * value for name, value in parts.items())
    return parts, total


# ---- TRL -----------------------------------------------------------------------------

def _text(completion):
    """TRL passes plain strings, or (conversational) a list of messages."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return str(completion)


def _column(kwargs, name, n):
    value = kwargs.get(name)
    return list(value) if value is not None else [None] * n


def answer(completions, answer=None, question=None, **kwargs):
    golds = list(answer) if answer is not None else [""] * len(completions)
    questions = question if question is not None else [None] * len(completions)
    return [answer_score(_text(c), str(g), q) for c, g, q in zip(completions, golds, questions)]


def format(completions, **kwargs):  # noqa: A001 - the metric's name
    return [format_score(_text(c)) for c in completions]


def plan(completions, plan=None, **kwargs):
    plans = list(plan) if plan is not None else [None] * len(completions)
    return [plan_score(_text(c), p) for c, p in zip(completions, plans)]


def make_length(max_new_tokens, cache):
    def length(completions, completion_ids=None, **kwargs):
        ids = completion_ids or [None] * len(completions)
        return [length_score(len(i) if i is not None else 0, max_new_tokens, cache,
                             i is not None and len(i) >= max_new_tokens) for i in ids]
    return length


def reward_funcs(max_new_tokens=256, weights=None):
    """The components with a non-zero weight, each a TRL reward function named as the metric."""
    w = weights or load_weights()
    funcs = []
    for name, func in (("answer", answer), ("format", format), ("plan", plan)):
        if w[name]:
            funcs.append(func)
    if w["length"]:
        funcs.append(make_length(max_new_tokens, int(w["length_cache"])))
    return funcs


def trl_reward_weights(weights=None):
    w = weights or load_weights()
    return [float(w[n]) for n in ("answer", "format", "plan", "length") if w[n]]


# ---- verl ----------------------------------------------------------------------------

def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """verl's custom reward function: the weighted total, components beside it."""
    info = extra_info or {}
    parts, total = score_all(solution_str, str(ground_truth), info.get("question"), info.get("plan"))
    result = {"score": total}
    result.update(parts)
    return result


# ---- self-test -----------------------------------------------------------------------

def self_test(path):
    with open(path, encoding="utf-8") as f:
        fixtures = json.load(f)
    weights = dict(DEFAULT_WEIGHTS)
    weights.update(fixtures["weights"])
    failures = 0
    for i, case in enumerate(fixtures["cases"]):
        parts, total = score_all(case["completion"], case["gold"], case.get("question"),
                                 case.get("reference_plan"), case.get("completion_tokens", 0),
                                 case.get("max_new_tokens", 0), case.get("truncated", False), weights)
        want = case["scores"]
        bad = [n for n in want if abs(parts.get(n, float("nan")) - want[n]) > 1e-9 or n not in parts]
        if bad or abs(total - case["total"]) > 1e-9:
            failures += 1
            print(f"fixture {i} ({case.get('name', '')}): python {parts} total {total}, "
                  f"rust {want} total {case['total']}", file=sys.stderr)
    print(f"{len(fixtures['cases']) - failures}/{len(fixtures['cases'])} fixtures agree with plantune-tui")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--self-test":
        sys.exit(self_test(sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "fixtures.json")))
    print("usage: rewards.py --self-test [fixtures.json]", file=sys.stderr)
    sys.exit(2)
