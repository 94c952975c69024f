"""Levels of the administrative tree and kinds of division, with their Chinese labels."""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    """The four administrative levels that run nodes."""

    PROVINCE = "province"
    PREFECTURE = "prefecture"
    COUNTY = "county"
    TOWNSHIP = "township"

    @property
    def label(self) -> str:
        return _LEVEL_LABELS[self]

    @property
    def depth(self) -> int:
        return list(Level).index(self)


_LEVEL_LABELS = {
    Level.PROVINCE: "省",
    Level.PREFECTURE: "市州",
    Level.COUNTY: "县市区",
    Level.TOWNSHIP: "乡镇街道",
}


class DivisionKind(StrEnum):
    """Kinds of division as in the civil-affairs data."""

    PROVINCE = "province"
    PREFECTURE_CITY = "prefecture_city"
    AUTONOMOUS_PREFECTURE = "autonomous_prefecture"
    DISTRICT = "district"
    COUNTY_CITY = "county_city"
    COUNTY = "county"
    AUTONOMOUS_COUNTY = "autonomous_county"
    STREET = "street"
    TOWN = "town"
    TOWNSHIP = "township"
    ETHNIC_TOWNSHIP = "ethnic_township"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]

    @property
    def has_congress(self) -> bool:
        """Streets (街道) are served by the county SC's street committee: no congress of their own."""
        return self is not DivisionKind.STREET


_KIND_LABELS = {
    DivisionKind.PROVINCE: "省",
    DivisionKind.PREFECTURE_CITY: "地级市",
    DivisionKind.AUTONOMOUS_PREFECTURE: "自治州",
    DivisionKind.DISTRICT: "市辖区",
    DivisionKind.COUNTY_CITY: "县级市",
    DivisionKind.COUNTY: "县",
    DivisionKind.AUTONOMOUS_COUNTY: "自治县",
    DivisionKind.STREET: "街道",
    DivisionKind.TOWN: "镇",
    DivisionKind.TOWNSHIP: "乡",
    DivisionKind.ETHNIC_TOWNSHIP: "民族乡",
}


class CongressLevel(StrEnum):
    """The five levels of people's congress a deputy can hold a mandate at (五级人大代表)."""

    NATIONAL = "national"
    PROVINCIAL = "provincial"
    PREFECTURE = "prefecture"
    COUNTY = "county"
    TOWNSHIP = "township"

    @property
    def label(self) -> str:
        return _CONGRESS_LABELS[self]

    @property
    def recorded_at(self) -> Level:
        """The node level whose office records mandates of this congress (在湘全国人大代表 at the province)."""
        return _RECORDED_AT[self]

    @property
    def directly_elected(self) -> bool:
        """County and township deputies are elected by voters of a constituency; the others by an electing unit."""
        return self in (CongressLevel.COUNTY, CongressLevel.TOWNSHIP)


_CONGRESS_LABELS = {
    CongressLevel.NATIONAL: "全国人大代表",
    CongressLevel.PROVINCIAL: "省人大代表",
    CongressLevel.PREFECTURE: "市州人大代表",
    CongressLevel.COUNTY: "县市区人大代表",
    CongressLevel.TOWNSHIP: "乡镇人大代表",
}

_RECORDED_AT = {
    CongressLevel.NATIONAL: Level.PROVINCE,
    CongressLevel.PROVINCIAL: Level.PROVINCE,
    CongressLevel.PREFECTURE: Level.PREFECTURE,
    CongressLevel.COUNTY: Level.COUNTY,
    CongressLevel.TOWNSHIP: Level.TOWNSHIP,
}
