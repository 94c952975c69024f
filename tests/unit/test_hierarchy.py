"""The administrative tree: counts, stable identity across recoding, dated facts, congress rules, replay."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from uuid import uuid4

import pytest

from domain.base import DomainError, NotFound
from domain.hierarchy import Division, Hierarchy, division_id, load_divisions
from domain.levels import DivisionKind, Level


@pytest.fixture(scope="module")
def hunan() -> Hierarchy:
    return Hierarchy.load()


def names(divisions: Iterable[Division]) -> list[str]:
    return [d.name for d in divisions]


# --------------------------------------------------------------------------------------------------- counts


def test_counts_by_level(hunan: Hierarchy) -> None:
    assert len(hunan) == 2084
    assert hunan.count_by_level() == {
        Level.PROVINCE: 1,
        Level.PREFECTURE: 14,
        Level.COUNTY: 122,
        Level.TOWNSHIP: 1947,
    }


def test_counts_by_kind_and_township_congresses(hunan: Hierarchy) -> None:
    kinds = hunan.count_by_kind()
    assert kinds[DivisionKind.STREET] == 430
    assert kinds[DivisionKind.TOWN] == 1131
    assert kinds[DivisionKind.TOWNSHIP] == 303
    assert kinds[DivisionKind.ETHNIC_TOWNSHIP] == 83
    township_congresses = [d for d in hunan if d.level is Level.TOWNSHIP and d.has_congress]
    assert len(township_congresses) == 1517


def test_root_is_the_province(hunan: Hierarchy) -> None:
    assert hunan.root.name == "湖南省"
    assert hunan.parent(hunan.root) is None
    assert hunan.path(hunan.root) == (hunan.root,)


# ------------------------------------------------------------------------------------------ stable identity


def test_shaodong_by_former_and_current_code_is_one_division(hunan: Hierarchy) -> None:
    by_former = hunan.by_code("430521")
    by_current = hunan.by_code("430582")
    assert by_former is by_current
    assert by_current.id == division_id("430521")
    assert by_current.name == "邵东市"
    assert by_current.former_codes == ("430521",)
    assert by_current.former_names == ("邵东县",)
    assert hunan.path_label(by_current) == "湖南省 › 邵阳市 › 邵东市"
    assert names(hunan.path(by_current)) == ["湖南省", "邵阳市", "邵东市"]


def test_shaodong_facts_by_date(hunan: Hierarchy) -> None:
    shaodong = hunan.by_code("430582")
    assert shaodong.code_on(date(2018, 6, 1)) == "430521"
    assert shaodong.code_on(date(2020, 6, 1)) == "430582"
    assert shaodong.name_on(date(2018, 6, 1)) == "邵东县"
    assert shaodong.kind_on(date(2018, 6, 1)) is DivisionKind.COUNTY
    assert shaodong.kind is DivisionKind.COUNTY_CITY
    assert hunan.by_code("430521", on=date(2018, 6, 1)) is shaodong
    assert hunan.by_code("430582", on=date(2020, 6, 1)) is shaodong


def test_townships_of_a_recoded_county_keep_their_parent(hunan: Hierarchy) -> None:
    zhuoxiang = hunan.by_code("430582204")
    assert hunan.parent(zhuoxiang) is hunan.by_code("430582")
    assert zhuoxiang.parent_id == division_id("430521")


def test_approval_is_kept_and_missing_approval_is_empty() -> None:
    divisions = {d.code: d for d in load_divisions()}
    events = divisions["430582"].collect_events()
    recoded = [e for e in events if isinstance(e, Division.Recoded)]
    assert [(e.old_code, e.new_code, e.effective, e.approval) for e in recoded] == [
        ("430521", "430582", date(2019, 1, 1), "民函〔2019〕71号")
    ]
    wangcheng = [e for e in divisions["430112"].collect_events() if isinstance(e, Division.Recoded)]
    assert wangcheng[0].approval == ""


# ------------------------------------------------------------------------------------ 镇 → 街道 and congresses


def test_town_that_became_a_street(hunan: Hierarchy) -> None:
    rongjiawan = hunan.by_code("430621001")
    assert rongjiawan.name == "荣家湾街道"
    assert rongjiawan.kind is DivisionKind.STREET
    assert not rongjiawan.has_congress
    assert rongjiawan.kind_on(date(2022, 6, 1)) is DivisionKind.TOWN
    assert rongjiawan.name_on(date(2022, 6, 1)) == "荣家湾镇"
    assert rongjiawan.has_congress_on(date(2022, 6, 1))
    assert hunan.ref(rongjiawan, on=date(2022, 6, 1)).has_congress
    assert not hunan.ref(rongjiawan).has_congress


def test_former_township_code_resolves(hunan: Hierarchy) -> None:
    rongjiawan = hunan.by_code("430621100")
    assert rongjiawan.code == "430621001"
    assert rongjiawan.former_codes == ("430621100",)
    assert hunan.resolve("荣家湾镇") is rongjiawan
    assert hunan.by_code("431202201").name == "盈口街道"


def test_code_reused_across_code_systems(hunan: Hierarchy) -> None:
    """430681119 was 归义镇 in the 2023 statistical codes and is 白塘镇 in the civil-affairs codes."""
    baitang = hunan.by_code("430681119")
    guiyi = hunan.by_code("430681119", on=date(2022, 6, 1))
    assert baitang.name == "白塘镇"
    assert guiyi.name == "归义街道"
    assert guiyi.name_on(date(2022, 6, 1)) == "归义镇"
    assert guiyi.id != baitang.id


def test_require_congress_refuses_a_street(hunan: Hierarchy) -> None:
    rongjiawan = hunan.by_code("430621001")
    with pytest.raises(DomainError) as raised:
        hunan.require_congress(rongjiawan, "township deputy mandate")
    assert raised.value.rule == (
        "荣家湾街道(430621001) is a street (街道): it has no congress, "
        "so no township deputies and no livelihood voting (township deputy mandate)"
    )
    assert "荣家湾街道(430621001)" in raised.value.aggregate
    assert raised.value.state == "street (街道)"


def test_require_congress_allows_a_town_and_the_town_before_it_became_a_street(hunan: Hierarchy) -> None:
    assert hunan.require_congress(hunan.by_code("430523112"), "livelihood vote").kind is DivisionKind.TOWN
    before = hunan.require_congress(hunan.by_code("430621001"), "vote", on=date(2022, 6, 1))
    assert (before.name, before.code, before.kind) == ("荣家湾镇", "430621100", DivisionKind.TOWN)


# ------------------------------------------------------------------------------------------------- tree


def test_children_subtree_and_path_of_changsha(hunan: Hierarchy) -> None:
    changsha = hunan.resolve("长沙市")
    children = hunan.children(changsha)
    assert [d.code for d in children] == sorted(d.code for d in children)
    assert "望城区" in names(children) and "宁乡市" in names(children)
    assert all(d.level is Level.COUNTY for d in children)
    subtree = list(hunan.subtree(changsha))
    assert subtree[0] is changsha
    assert subtree[1] is children[0]
    assert subtree[2 : 2 + len(hunan.children(children[0]))] == list(hunan.children(children[0]))
    assert len(subtree) == len({d.id for d in subtree})
    assert all(hunan.is_within(d, changsha) for d in subtree)
    assert sum(1 for d in hunan if hunan.is_within(d, changsha)) == len(subtree)
    assert names(hunan.path(changsha)) == ["湖南省", "长沙市"]
    assert hunan.ancestors(changsha) == (hunan.root,)


def test_is_within(hunan: Hierarchy) -> None:
    rongjiawan = hunan.by_code("430621001")
    assert hunan.is_within(rongjiawan, hunan.resolve("岳阳市"))
    assert hunan.is_within(rongjiawan, rongjiawan)
    assert not hunan.is_within(rongjiawan, hunan.resolve("长沙市"))
    assert not hunan.is_within(hunan.root, rongjiawan)


def test_ref_carries_identity_and_kind(hunan: Hierarchy) -> None:
    ref = hunan.ref(hunan.by_code("430582"))
    assert (ref.node_id, ref.code, ref.name, ref.level, ref.kind) == (
        division_id("430521"),
        "430582",
        "邵东市",
        Level.COUNTY,
        DivisionKind.COUNTY_CITY,
    )
    assert hunan.get(ref.node_id) is hunan.by_code("430582")
    assert hunan.parent(ref) is hunan.resolve("邵阳市")


# -------------------------------------------------------------------------------------------- names, errors


def test_names_outside_the_bmp_survive(hunan: Hierarchy) -> None:
    for code, name in (("430525203", "𦰡溪瑶族乡"), ("430582204", "斫𥕢乡")):
        division = hunan.by_code(code)
        assert division.name == name
        assert any(ord(c) > 0xFFFF for c in division.name)
        assert hunan.resolve(name) is division
        assert str(hunan.ref(division)) == f"{name}({code})"


def test_unknown_code_raises_not_found(hunan: Hierarchy) -> None:
    with pytest.raises(NotFound) as raised:
        hunan.by_code("439999")
    assert "439999" in str(raised.value) and "unknown" in str(raised.value)
    with pytest.raises(NotFound, match="430582"):
        hunan.by_code("430582", on=date(2018, 6, 1))
    with pytest.raises(NotFound):
        hunan.get(uuid4())
    with pytest.raises(NotFound):
        hunan.resolve("不存在乡")


def test_ambiguous_name_lists_candidates(hunan: Hierarchy) -> None:
    with pytest.raises(DomainError) as raised:
        hunan.resolve("新市镇")
    assert raised.value.state == "ambiguous"
    assert raised.value.rule.count("新市镇") >= 3  # the name asked for, then at least two candidates with paths
    assert "湖南省 › " in raised.value.rule


# --------------------------------------------------------------------------------------------- commands


def _province_and_county() -> tuple[Division, Division, Division]:
    province = Division.establish("430000", "湖南省", DivisionKind.PROVINCE, None)
    prefecture = Division.establish("430600", "岳阳市", DivisionKind.PREFECTURE_CITY, province)
    county = Division.establish("430621", "岳阳县", DivisionKind.COUNTY, prefecture)
    return province, prefecture, county


def test_commands_refuse_what_breaks_a_rule() -> None:
    _, prefecture, county = _province_and_county()
    town = Division.establish("430621100", "荣家湾镇", DivisionKind.TOWN, county)
    other = Division.establish("430621101", "某乡", DivisionKind.TOWNSHIP, county)
    with pytest.raises(DomainError, match="already its code") as raised:
        town.recode("430621100", date(2025, 1, 1))
    assert raised.value.aggregate == "division 荣家湾镇(430621100)" and raised.value.state == "town (镇)"
    with pytest.raises(DomainError, match="9 digits"):
        town.recode("430621", date(2025, 1, 1))
    with pytest.raises(DomainError, match="township-level division cannot become a district"):
        town.change_kind(DivisionKind.DISTRICT, date(2025, 1, 1))
    town.change_kind(DivisionKind.STREET, date(2025, 1, 1))
    with pytest.raises(DomainError, match="must be under a county-level one, not 某乡") as raised:
        town.reparent(other, date(2026, 1, 1))
    assert raised.value.state == "street (街道)"
    with pytest.raises(DomainError, match="already under"):
        town.reparent(county, date(2026, 1, 1))
    with pytest.raises(DomainError, match="rewrite history"):
        town.change_kind(DivisionKind.TOWN, date(2024, 1, 1))
    with pytest.raises(DomainError, match="must be under a prefecture-level one"):
        Division.establish("430699", "某县", DivisionKind.COUNTY, county)
    assert [type(e).__name__ for e in town.collect_events()] == ["Established", "KindChanged"]
    assert prefecture.version == 1


def test_reparent_records_a_dated_move() -> None:
    _, prefecture, county = _province_and_county()
    other_county = Division.establish("430623", "华容县", DivisionKind.COUNTY, prefecture)
    town = Division.establish("430621100", "荣家湾镇", DivisionKind.TOWN, county)
    town.reparent(other_county, date(2026, 1, 1))
    assert town.parent_id == other_county.id
    assert town.parent_id_on(date(2025, 12, 31)) == county.id


# ------------------------------------------------------------------------------------------------ replay


def test_every_division_replays_to_an_equal_aggregate() -> None:
    divisions = load_divisions()
    assert len(divisions) == 2084
    for division in divisions:
        rebuilt = None
        for event in division.collect_events():
            rebuilt = event.mutate(rebuilt)
        assert rebuilt == division
    changed = [d for d in divisions if d.version > 1]
    assert len(changed) == 10


def test_hierarchy_from_rebuilt_divisions_matches(hunan: Hierarchy) -> None:
    rebuilt = Hierarchy.from_divisions(load_divisions())
    assert rebuilt.count_by_kind() == hunan.count_by_kind()
    assert rebuilt.by_code("430521").id == hunan.by_code("430582").id


# -------------------------------------------------------------------------------------------------- speed
