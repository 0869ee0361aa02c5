"""Tally reports: the tally JSON (SPEC.md §5.6) and the readable bilingual text with explanations.

In the JSON, heads are integers and areas decimal strings with exactly two decimals
("1234.50"), so that auditors recompute every decision from it without floating point.
"""

from __future__ import annotations

from identity.area import format_area, format_area_grouped
from identity.scope import Scope
from voting.decide import ItemResult, Result
from voting.rules import CLASS_NAMES, MATTER_NAMES, Amount, Decision

OUTCOME_NAMES = {
    "passed": "通过 / passed", "failed": "未通过 / failed", "no_quorum": "参与不足，未形成决定 / no quorum",
    "void": "所依赖事项未通过，不生效 / void (a required item did not pass)",
    "elected": "选出 / elected", "partial": "部分选出（合格人数少于席位）/ partial (fewer qualified than seats)",
    "runoff": "末位同票，须另行决定 / runoff (tie at the last seat)",
}
KIND_NAMES = {"motion": "议案 / motion", "election": "选举 / election", "choice": "选择 / choice"}
MARK_NAMES = {"agree": "同意 agree", "oppose": "反对 oppose", "abstain": "弃权 abstain"}


def amount_json(amount: Amount) -> dict:
    return {"heads": amount.heads, "area": format_area(amount.area)}


def to_json(result: Result) -> dict:
    """The tally JSON exactly as SPEC.md §5.6 defines it."""
    return {
        "rules": result.rules.name,
        "totals": amount_json(result.totals),
        "participation": amount_json(result.participation),
        "quorum": result.quorum.holds,
        "items": {item_id: item_json(r) for item_id, r in result.items.items()},
    }


def item_json(r: ItemResult) -> dict:
    if r.item.kind == "motion":
        return {"outcome": r.outcome, **{m: amount_json(r.counts[m]) for m in ("agree", "oppose", "abstain")}}
    if r.item.kind == "choice":
        return {"outcome": r.outcome, "options": {o: amount_json(r.counts[o]) for o in r.item.choices},
                "adopted": r.adopted}
    return {"outcome": r.outcome,
            "candidates": {c: {**amount_json(r.counts[c]), "qualified": c in r.qualified} for c in r.item.choices},
            "elected": list(r.elected), "alternates": list(r.alternates), "runoff": list(r.runoff)}


def _amount_text(amount: Amount) -> str:
    return f"{amount.heads} 人 heads, {format_area_grouped(amount.area)} m²"


def _explain(decision: Decision, indent: str) -> list[str]:
    lines = []
    for check in decision.checks:
        lines.append(f"{indent}{check.zh}")
        lines.append(f"{indent}{check.en}")
    return lines


def to_text(result: Result, scope: Scope = Scope()) -> str:
    """A readable report, Chinese first, with every inequality and its numbers."""
    rules = result.rules
    out = ["共决 计票结果 / Gongjue tally",
           f"规则 / rules: {rules.name} — {rules.law}",
           f"范围 / scope: {scope.describe()}",
           f"总数 T / totals: {_amount_text(result.totals)}",
           f"参与 P / participation: {_amount_text(result.participation)}",
           f"法定参与 / quorum ({rules.quorum.formula('P')}, 面积与人数 area and heads): "
           f"{'达到 / met ✓' if result.quorum.holds else '未达到 / not met ✗'}"]
    out += _explain(result.quorum, "  ")
    for r in result.items.values():
        out.append("")
        out += item_text(result, r)
    return "\n".join(out) + "\n"


def item_text(result: Result, r: ItemResult) -> list[str]:
    item = r.item
    threshold = result.rules.threshold(item.matter)
    klass = result.rules.matter_class(item.matter)
    title = f" 「{item.title}」" if item.title else ""
    lines = [f"事项 / item {item.id}{title} — {KIND_NAMES[item.kind]}",
             f"  事项类别 / matter: {item.matter} ({MATTER_NAMES[item.matter]}); "
             f"{CLASS_NAMES[klass]}: {threshold.formula('Y')}"]
    if item.requires:
        lines.append(f"  依赖 / requires: {', '.join(item.requires)}")
    if item.kind == "motion":
        lines += [f"  {MARK_NAMES[m]}: {_amount_text(r.counts[m])}" for m in ("agree", "oppose", "abstain")]
    else:
        label = "候选人 candidate" if item.kind == "election" else "选项 option"
        lines += [f"  {label} {c}: {_amount_text(r.counts[c])}" for c in item.choices]
        extra = result.invalid.get(item.id) if item.kind == "election" else result.blank.get(item.id)
        if extra is not None and extra.heads:
            name = "超选无效票 / over-marked (invalid)" if item.kind == "election" else "未选 / blank"
            lines.append(f"  {name}: {_amount_text(extra)}")
    lines.append(f"  结果 / outcome: {OUTCOME_NAMES[r.outcome]}")
    if r.outcome == "no_quorum":
        return lines
    if r.outcome == "void":
        lines.append(f"  未通过的依赖事项 / required items not passed: {', '.join(r.unmet)}")
        return lines
    for mark, decision in r.decisions.items():
        lines += _explain(decision, "    ")
    if item.kind == "choice":
        lines.append(f"  采纳 / adopted: {r.adopted or '无 / none'}")
    if item.kind == "election":
        lines.append(f"  合格（按{'人数、面积' if item.rank_by == 'heads' else '面积、人数'}排序）/ qualified "
                     f"(ranked by {item.rank_by}): {', '.join(r.qualified) or '无 / none'}")
        lines.append(f"  当选 / elected ({item.seats} 席 seats): {', '.join(r.elected) or '无 / none'}")
        lines.append(f"  候补 / alternates: {', '.join(r.alternates) or '无 / none'}")
        if r.runoff:
            lines.append(f"  须另行决定（同票）/ runoff (tied): {', '.join(r.runoff)}")
    return lines
