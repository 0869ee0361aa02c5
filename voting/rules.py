"""Rule sets and thresholds: when a decision of the owners' assembly stands.

Follows DOMAIN.md "When a decision stands" and SPEC.md §5.3.  Notation, each measured both by
area (0.01 m²) and by heads: T = total in scope, P = participating voters, Y = agreeing.

- ``civil-code-2021`` (Civil Code Art. 278, the default): quorum ``3·P ≥ 2·T``; special
  matters ``4·Y ≥ 3·P``; every other matter ``2·Y > P``.
- ``property-law-2007`` (Property Law Art. 76 with 物业管理条例 Art. 12): quorum ``2·P > T``;
  special matters ``3·Y ≥ 2·T`` (against the totals); every other matter ``2·Y > T``.

Every check is a pure integer inequality ``d·x ≥ n·base`` (or ``>``) for a threshold n/d; the
percentages in the explanations are computed by integer division for display only.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd

from identity.area import format_area_grouped

MATTERS = ("rules_of_procedure", "management_statute", "elect_committee", "hire_manager",
           "use_maintenance_fund", "raise_maintenance_fund", "rebuild", "change_common_use", "other_major")

MATTER_NAMES = {
    "rules_of_procedure": "制定和修改业主大会议事规则 / rules of procedure",
    "management_statute": "制定和修改管理规约 / management statute",
    "elect_committee": "选举业主委员会或者更换业主委员会成员 / elect or replace the committee",
    "hire_manager": "选聘和解聘物业服务企业 / hire or dismiss the property manager",
    "use_maintenance_fund": "使用维修资金 / use the maintenance fund",
    "raise_maintenance_fund": "筹集维修资金 / raise the maintenance fund",
    "rebuild": "改建、重建建筑物及其附属设施 / rebuild or extend buildings and facilities",
    "change_common_use": "改变共有部分的用途或者利用共有部分从事经营活动 / change the use of common parts",
    "other_major": "有关共有和共同管理权利的其他重大事项 / other major matters",
}

PARTICIPATION = "participation"
TOTALS = "totals"


@dataclass(frozen=True)
class Amount:
    """A count measured both ways: ``heads`` (voters) and ``area`` (0.01 m²)."""

    heads: int
    area: int


@dataclass(frozen=True)
class Threshold:
    """``d·x ≥ n·base`` (or ``>`` when ``strict``), the fraction being n/d.

    ``against`` names the base: ``totals`` (T) or ``participation`` (P).
    """

    name: str  # quorum | special | ordinary
    numerator: int
    denominator: int
    strict: bool
    against: str
    measures: tuple[str, ...] = ("area", "heads")  # household-majority: heads only

    @property
    def fraction(self) -> str:
        return f"{self.numerator}/{self.denominator}"

    def holds(self, value: int, base: int) -> bool:
        """The inequality itself, in integers."""
        left, right = self.denominator * value, self.numerator * base
        return left > right if self.strict else left >= right

    def formula(self, symbol: str) -> str:
        """E.g. ``4·Y ≥ 3·P``."""
        base = "T" if self.against == TOTALS else "P"
        right = base if self.numerator == 1 else f"{self.numerator}·{base}"
        return f"{self.denominator}·{symbol} {'>' if self.strict else '≥'} {right}"


@dataclass(frozen=True)
class RuleSet:
    """A named rule set: its quorum, its two matter classes, and which matters are special."""

    name: str
    law: str  # the statute, zh / en
    quorum: Threshold
    special: Threshold
    ordinary: Threshold
    special_matters: frozenset[str]

    def matter_class(self, matter: str) -> str:
        """``special`` or ``ordinary``; KeyError for a matter not in MATTERS."""
        if matter not in MATTERS:
            raise KeyError(matter)
        return "special" if matter in self.special_matters else "ordinary"

    def threshold(self, matter: str) -> Threshold:
        return self.special if self.matter_class(matter) == "special" else self.ordinary


CIVIL_CODE_2021 = RuleSet(
    name="civil-code-2021",
    law="《民法典》第二百七十八条 / Civil Code Art. 278",
    quorum=Threshold("quorum", 2, 3, False, TOTALS),
    special=Threshold("special", 3, 4, False, PARTICIPATION),
    ordinary=Threshold("ordinary", 1, 2, True, PARTICIPATION),
    special_matters=frozenset({"raise_maintenance_fund", "rebuild", "change_common_use"}),
)

PROPERTY_LAW_2007 = RuleSet(
    name="property-law-2007",
    law="《物权法》第七十六条、《物业管理条例》第十二条 / Property Law Art. 76, Property Management "
        "Regulations Art. 12",
    quorum=Threshold("quorum", 1, 2, True, TOTALS),
    special=Threshold("special", 2, 3, False, TOTALS),
    ordinary=Threshold("ordinary", 1, 2, True, TOTALS),
    special_matters=frozenset({"raise_maintenance_fund", "use_maintenance_fund", "rebuild"}),
)

HOUSEHOLD_MAJORITY = RuleSet(
    name="household-majority",
    law="自管委员会选举：一户一票，三分之二以上住户参与，候选人得票过参与投票数半数 / residents' self-management "
        "committee: one vote per household, at least two thirds of households take part, more than half of the "
        "votes cast",
    quorum=Threshold("quorum", 2, 3, False, TOTALS, ("heads",)),
    special=Threshold("special", 1, 2, True, PARTICIPATION, ("heads",)),
    ordinary=Threshold("ordinary", 1, 2, True, PARTICIPATION, ("heads",)),
    special_matters=frozenset(),
)

RULE_SETS = {r.name: r for r in (CIVIL_CODE_2021, PROPERTY_LAW_2007, HOUSEHOLD_MAJORITY)}
DEFAULT_RULES = CIVIL_CODE_2021.name
ESTATE_MARK = "+estate:"
THRESHOLD_NAMES = ("quorum", "special", "ordinary")
MAX_DENOMINATOR = 10000


class RulesError(ValueError):
    """A rule-set name that is unknown, malformed, or looser than its statute."""


def not_looser(custom: tuple[int, int], statute: Threshold) -> bool:
    """Whether the fraction n'/d' (with the statute's strictness and base) is at least as strict as
    the statute's n/d: n'·d ≥ n·d' (integer cross-multiplication; never a float)."""
    n, d = custom
    return n * statute.denominator >= statute.numerator * d


def rule_set(name: str) -> RuleSet:
    """The rule set of ``name``: a statutory one (``RULE_SETS``) or an estate rule set
    ``<statute>+estate:quorum=N/D,special=N/D,ordinary=N/D`` (any non-empty subset, that order).

    An estate's rules of procedure may be stricter than the statute, never looser (DOMAIN.md):
    each fraction keeps the statute's inequality (≥ or >) and base (T or P) and must be at least
    the statute's fraction, compared by cross-multiplication; 0 < N/D ≤ 1 (N/D < 1 where the
    statute's inequality is strict), D ≤ 10000, written in lowest terms.  RulesError otherwise.
    """
    if not isinstance(name, str):
        raise RulesError(f"rules: 规则名须为字符串 / the rule set must be a string, not {name!r}")
    if name in RULE_SETS:
        return RULE_SETS[name]
    base_name, mark, rest = name.partition(ESTATE_MARK)
    if not mark or base_name not in RULE_SETS:
        raise RulesError(f"rules: 未知规则 / unknown rule set {name!r} (known: {', '.join(RULE_SETS)}, or "
                         f"<statute>{ESTATE_MARK}quorum=N/D,special=N/D,ordinary=N/D)")
    base = RULE_SETS[base_name]
    fractions: dict[str, tuple[int, int]] = {}
    for part in rest.split(","):
        key, eq, value = part.partition("=")
        n_text, slash, d_text = value.partition("/")
        if (not eq or not slash or key not in THRESHOLD_NAMES or key in fractions or not n_text.isascii()
                or not d_text.isascii() or not n_text.isdigit() or not d_text.isdigit()
                or n_text != str(int(n_text)) or d_text != str(int(d_text))):
            raise RulesError(f"rules: 无法读取小区规则 / cannot read the estate rule {part!r} in {name!r} "
                             "(write quorum=N/D, special=N/D, ordinary=N/D)")
        fractions[key] = (int(n_text), int(d_text))
    if list(fractions) != [k for k in THRESHOLD_NAMES if k in fractions]:
        raise RulesError(f"rules: 小区规则须按 quorum、special、ordinary 的顺序书写 / write the estate rules in the order "
                         f"quorum, special, ordinary: {name!r}")
    thresholds = {}
    for key in THRESHOLD_NAMES:
        statute: Threshold = getattr(base, key)
        if key not in fractions:
            thresholds[key] = statute
            continue
        n, d = fractions[key]
        if not (1 <= n <= d <= MAX_DENOMINATOR) or (statute.strict and n == d):
            raise RulesError(f"rules: {key}={n}/{d} 须在 0 与 1 之间 / {key}={n}/{d} must lie in (0, 1"
                             f"{')' if statute.strict else ']'} with a denominator of at most {MAX_DENOMINATOR}")
        if gcd(n, d) != 1:
            raise RulesError(f"rules: {key}={n}/{d} 须约分为 {n // gcd(n, d)}/{d // gcd(n, d)} / write {key} in lowest "
                             f"terms: {n // gcd(n, d)}/{d // gcd(n, d)}")
        if not not_looser((n, d), statute):
            raise RulesError(f"rules: 小区规则不得比法定标准宽松：{key} {n}/{d} 低于 {base.name} 的 {statute.fraction} / "
                             f"an estate rule may not be looser than the statute: {key} {n}/{d} is below "
                             f"{statute.fraction} of {base.name}")
        thresholds[key] = Threshold(key, n, d, statute.strict, statute.against, statute.measures)
    return RuleSet(name=name, law=f"{base.law}；小区议事规则 / estate rules of procedure", quorum=thresholds["quorum"],
                   special=thresholds["special"], ordinary=thresholds["ordinary"],
                   special_matters=base.special_matters)

CLASS_NAMES = {"quorum": "法定参与 / quorum", "special": "特别事项 / special matter",
               "ordinary": "一般事项 / ordinary matter"}


@dataclass(frozen=True)
class Check:
    """One inequality for one measure, with its explanation in Chinese and English."""

    measure: str  # area | heads
    value: int
    base: int
    threshold: Threshold
    holds: bool
    zh: str
    en: str


@dataclass(frozen=True)
class Decision:
    """The area check and the heads check of one threshold; it holds when both hold."""

    checks: tuple[Check, ...]

    @property
    def holds(self) -> bool:
        return all(c.holds for c in self.checks)

    @property
    def zh(self) -> tuple[str, ...]:
        return tuple(c.zh for c in self.checks)

    @property
    def en(self) -> tuple[str, ...]:
        return tuple(c.en for c in self.checks)


@dataclass(frozen=True)
class Subject:
    """What is measured, for explanations: e.g. ("同意", "agreeing")."""

    zh: str
    en: str


PARTICIPATING = Subject("参与", "participating")
AGREEING = Subject("同意", "agreeing")


def percent(value: int, base: int) -> str:
    """``value/base`` as a percentage truncated to two decimals, by integer division (display only)."""
    if base <= 0:
        return "—"
    hundredths = value * 10000 // base
    return f"{hundredths // 100}.{hundredths % 100:02d}%"


def _amount_text(measure: str, value: int) -> str:
    return f"{format_area_grouped(value)} m²" if measure == "area" else str(value)


def _number_text(measure: str, value: int) -> str:
    return format_area_grouped(value) if measure == "area" else str(value)


def check(threshold: Threshold, measure: str, value: int, base: int, subject: Subject) -> Check:
    """Evaluate ``threshold`` for one measure and explain it with the actual numbers.

    E.g. "participating area 12,345.67 m² of total 18,000.00 m² = 68.59% ≥ 2/3 ✓ (3 × 12,345.67 ≥
    2 × 18,000.00)".
    """
    holds = threshold.holds(value, base)
    relation = (">" if threshold.strict else "≥") if holds else ("≤" if threshold.strict else "<")
    mark = "✓" if holds else "✗"
    base_subject = Subject("总", "total") if threshold.against == TOTALS else PARTICIPATING
    measure_zh = "面积" if measure == "area" else "人数"
    measure_en = "area" if measure == "area" else "heads"
    inequality = (f"{threshold.denominator} × {_number_text(measure, value)} {relation} "
                  f"{threshold.numerator} × {_number_text(measure, base)}")
    tail = f"= {percent(value, base)} {relation} {threshold.fraction} {mark}"
    zh = (f"{subject.zh}{measure_zh} {_amount_text(measure, value)} / {base_subject.zh}{measure_zh} "
          f"{_amount_text(measure, base)} {tail}（{inequality}）")
    en = (f"{subject.en} {measure_en} {_amount_text(measure, value)} of {base_subject.en} "
          f"{_amount_text(measure, base)} {tail} ({inequality})")
    return Check(measure, value, base, threshold, holds, zh, en)


def decide_threshold(threshold: Threshold, value: Amount, participation: Amount, totals: Amount,
                     subject: Subject) -> Decision:
    """Check ``value`` against ``threshold`` for area AND heads."""
    base = totals if threshold.against == TOTALS else participation
    return Decision(tuple(check(threshold, m, getattr(value, m), getattr(base, m), subject)
                          for m in ("area", "heads") if m in threshold.measures))


def quorum(rules: RuleSet, participation: Amount, totals: Amount) -> Decision:
    """The round's quorum: civil-code-2021 ``3·P ≥ 2·T``, property-law-2007 ``2·P > T``."""
    return decide_threshold(rules.quorum, participation, participation, totals, PARTICIPATING)


def matter_passes(rules: RuleSet, matter: str, agree: Amount, participation: Amount, totals: Amount,
                  subject: Subject = AGREEING) -> Decision:
    """Whether ``agree`` (Y) meets the threshold of ``matter`` under ``rules``."""
    return decide_threshold(rules.threshold(matter), agree, participation, totals, subject)
