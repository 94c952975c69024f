"""Levels of the administrative tree and kinds of division, with their Chinese labels."""

from __future__ import annotations

from domain.labelled import Labelled


class Level(Labelled):
    """The four administrative levels that run nodes."""

    PROVINCE = "province", "省"
    PREFECTURE = "prefecture", "市州"
    COUNTY = "county", "县市区"
    TOWNSHIP = "township", "乡镇街道"

    @property
    def depth(self) -> int:
        return list(Level).index(self)


class DivisionKind(Labelled):
    """Kinds of division as in the civil-affairs data."""

    PROVINCE = "province", "省"
    PREFECTURE_CITY = "prefecture_city", "地级市"
    AUTONOMOUS_PREFECTURE = "autonomous_prefecture", "自治州"
    DISTRICT = "district", "市辖区"
    COUNTY_CITY = "county_city", "县级市"
    COUNTY = "county", "县"
    AUTONOMOUS_COUNTY = "autonomous_county", "自治县"
    STREET = "street", "街道"
    TOWN = "town", "镇"
    TOWNSHIP = "township", "乡"
    ETHNIC_TOWNSHIP = "ethnic_township", "民族乡"

    @property
    def has_congress(self) -> bool:
        """Streets (街道) are served by the county SC's street committee: no congress of their own."""
        return self is not DivisionKind.STREET


class CongressLevel(Labelled):
    """The five levels of people's congress a deputy can hold a mandate at (五级人大代表)."""

    NATIONAL = "national", "全国人大代表"
    PROVINCIAL = "provincial", "省人大代表"
    PREFECTURE = "prefecture", "市州人大代表"
    COUNTY = "county", "县市区人大代表"
    TOWNSHIP = "township", "乡镇人大代表"

    @property
    def recorded_at(self) -> Level:
        """The node level whose office records mandates of this congress (在湘全国人大代表 at the province)."""
        return _RECORDED_AT[self]

    @property
    def directly_elected(self) -> bool:
        """County and township deputies are elected by voters of a constituency; the others by an electing unit."""
        return self in (CongressLevel.COUNTY, CongressLevel.TOWNSHIP)


_RECORDED_AT = {
    CongressLevel.NATIONAL: Level.PROVINCE,
    CongressLevel.PROVINCIAL: Level.PROVINCE,
    CongressLevel.PREFECTURE: Level.PREFECTURE,
    CongressLevel.COUNTY: Level.COUNTY,
    CongressLevel.TOWNSHIP: Level.TOWNSHIP,
}
