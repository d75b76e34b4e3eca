"""`python -m services.care_record.seed`: a realistic demo population, loaded through the service layer.

A few hundred elders across an urban district (Nanjing), a rural county (Gansu) and a
pastoral banner (Inner Mongolia), with devices, contacts, assessments and visits. The
data is generated from a fixed seed, so it is the same on every run, and loading it
twice changes nothing (elders whose id exists are skipped). Each elder is written in
one transaction with its snapshot in the outbox, so a running care-record publishes
it and dispatch shows the elder for the seeded devices.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from eldercare import db
from eldercare.envelope import utcnow
from eldercare.runtime import safe_url
from services.care_record import snapshot
from services.care_record.app import MIGRATIONS
from services.care_record.assessment.models import AssessmentCreate, SubScores
from services.care_record.assessment.service import record_assessment
from services.care_record.config import CareRecordSettings
from services.care_record.device.service import bind_device
from services.care_record.elder.models import (
    AreaIn,
    AreaType,
    Category,
    ContactIn,
    Elder,
    ElderCreate,
    HealthArchive,
    HomeLocation,
    LivingSituation,
    Sex,
    make_id_number,
)
from services.care_record.elder.service import create_elder, set_contacts
from services.care_record.elder.visit_policy import DEFAULT_VISIT_POLICY, Frequency, VisitPolicy, required_frequency
from services.care_record.visit.models import VisitCreate, VisitMethod
from services.care_record.visit.service import record_visit

log = logging.getLogger(__name__)

SEED_ACTOR = "seed"
_NAMESPACE = uuid.UUID("0b6f6f2a-52c8-4b8e-a1f4-3c3f6d0f4e21")


@dataclass(frozen=True)
class Region:
    area_type: AreaType
    province: str
    city: str
    district: str
    id_region: str  # first six digits of residents' ID numbers
    centre: tuple[float, float]
    streets: dict[str, list[str]]  # street / township / sumu -> communities / villages / gachas
    language: str


REGIONS = (
    Region(
        AreaType.URBAN,
        "江苏省",
        "南京市",
        "鼓楼区",
        "320106",
        (32.066, 118.770),
        {
            "宁海路街道": ["北京西路社区", "颐和路社区", "江苏路社区"],
            "湖南路街道": ["马台街社区", "青云巷社区"],
            "华侨路街道": ["五台山社区", "龙池庵社区"],
        },
        "普通话",
    ),
    Region(
        AreaType.RURAL,
        "甘肃省",
        "定西市",
        "通渭县",
        "621121",
        (35.210, 105.242),
        {"平襄镇": ["南关村", "孙川村", "文庙村"], "马营镇": ["马营村", "锦屏村"]},
        "甘肃方言",
    ),
    Region(
        AreaType.PASTORAL,
        "内蒙古自治区",
        "锡林郭勒盟",
        "正蓝旗",
        "152530",
        (42.245, 115.990),
        {"那日图苏木": ["敖包图嘎查", "阿拉腾嘎达苏嘎查"], "宝绍岱苏木": ["宝绍岱嘎查", "乌日图嘎查"]},
        "蒙古语",
    ),
)

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN_MALE = ["建国", "志强", "德明", "振华", "长福", "国庆", "永和", "秀山", "有才", "春生"]
_GIVEN_FEMALE = ["秀英", "桂兰", "玉珍", "淑芬", "凤英", "翠花", "金凤", "素梅", "兰英", "桂芳"]
_MONGOLIAN_MALE = ["巴特尔", "朝鲁", "额尔敦", "宝音", "图门", "巴雅尔"]
_MONGOLIAN_FEMALE = ["其其格", "斯琴", "乌云", "萨仁", "托娅", "高娃"]
_CONDITIONS = [
    ("高血压", "氨氯地平"),
    ("2型糖尿病", "二甲双胍"),
    ("冠心病", "阿司匹林"),
    ("慢性阻塞性肺病", "噻托溴铵"),
    ("脑卒中后遗症", "氯吡格雷"),
    ("骨质疏松", "钙尔奇D"),
    ("白内障", ""),
]
_ALLERGIES = ["青霉素", "磺胺类", "海鲜"]
_RELATIONS = ["女儿", "儿子", "侄子", "邻居", "村干部", "外甥女"]


@dataclass
class SeedResult:
    created: int = 0
    skipped: int = 0


def elder_id_for(label: str, index: int) -> str:
    """The seeded elder's id: stable across runs, so re-seeding skips it."""
    return str(uuid.uuid5(_NAMESPACE, f"{label}:{index}"))


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"


def _person(rng: random.Random, index: int, region: Region, today: date) -> ElderCreate:
    sex = rng.choice([Sex.MALE, Sex.FEMALE])
    if region.area_type is AreaType.PASTORAL and rng.random() < 0.7:
        name = rng.choice(_MONGOLIAN_MALE if sex is Sex.MALE else _MONGOLIAN_FEMALE)
    else:
        name = rng.choice(_SURNAMES) + rng.choice(_GIVEN_MALE if sex is Sex.MALE else _GIVEN_FEMALE)
    age = int(min(99, 60 + rng.expovariate(1 / 14)))
    birth = date(today.year - age - 1, rng.randint(1, 12), rng.randint(1, 28))
    street = rng.choice(sorted(region.streets))
    community = rng.choice(region.streets[street])
    living = rng.choices(list(LivingSituation), weights=[30, 30, 35, 5])[0]
    categories: set[Category] = set()
    for category, chance in (
        (Category.SPECIAL_HARDSHIP, 0.30),
        (Category.SUBSISTENCE_ALLOWANCE, 0.25),
        (Category.DISABLED, 0.15),
        (Category.DEMENTIA, 0.08),
        (Category.LEFT_BEHIND, 0.25 if region.area_type is not AreaType.URBAN else 0.05),
        (Category.FAMILY_PLANNING_SPECIAL, 0.03),
    ):
        if rng.random() < chance:
            categories.add(category)
    if living is LivingSituation.ALONE:
        categories.add(Category.LIVING_ALONE)
        if rng.random() < 0.4:
            categories.add(Category.CHILDLESS_WIDOWED)
    if today.year - birth.year >= 81:
        categories.add(Category.VERY_OLD)
    picked = rng.sample(_CONDITIONS, k=rng.randint(0, 3))
    conditions = [c for c, _ in picked] + (["阿尔茨海默病"] if Category.DEMENTIA in categories else [])
    lat = region.centre[0] + rng.uniform(-0.08, 0.08)
    lon = region.centre[1] + rng.uniform(-0.08, 0.08)
    return ElderCreate(
        name=name,
        sex=sex,
        birth_date=birth,
        id_number=make_id_number(region.id_region, birth, index, sex),
        phone=_phone(rng) if rng.random() < 0.85 else None,
        address=f"{region.district}{street}{community}{rng.randint(1, 120)}号",
        home_location=HomeLocation(lat=round(lat, 5), lon=round(lon, 5)),
        area=AreaIn(
            province=region.province,
            city=region.city,
            district=region.district,
            street=street,
            community=community,
            area_type=region.area_type,
        ),
        living_situation=living,
        categories=sorted(categories),
        language=region.language,
        health=HealthArchive(
            conditions=conditions,
            medications=[m for _, m in picked if m],
            allergies=rng.sample(_ALLERGIES, k=1) if rng.random() < 0.2 else [],
            blood_type=rng.choice(["A+", "B+", "O+", "AB+", ""]),
            primary_doctor=f"{rng.choice(_SURNAMES)}医生",
            family_doctor_contract=rng.random() < 0.7,
            hospital_preference=f"{region.district}人民医院",
        ),
    )


def _visits(rng: random.Random, frequency: Frequency | None, now: datetime) -> list[VisitCreate]:
    """About 60 days of visits; some elders are deliberately left behind so reports show overdue ones."""
    if frequency is None:
        return [] if rng.random() < 0.6 else [_visit(rng, now - timedelta(days=rng.randint(5, 80)))]
    gap = 7 if frequency is Frequency.WEEKLY else 30
    stops_early = rng.random() < 0.15  # visits stopped some weeks ago: overdue now
    visits = []
    day = 62
    while day > (gap * 2 if stops_early else 0):
        visits.append(_visit(rng, now - timedelta(days=day, hours=rng.randint(0, 8))))
        day -= gap if rng.random() > 0.1 else gap + 4  # now and then a visit comes late
    return visits


def _visit(rng: random.Random, at: datetime) -> VisitCreate:
    method = rng.choices(list(VisitMethod), weights=[70, 25, 5])[0]
    return VisitCreate(
        visited_at=at,
        visitor=f"{rng.choice(_SURNAMES)}社工",
        method=method,
        findings=rng.choice(["身体状况平稳", "血压偏高，已提醒按时服药", "居家环境安全", "情绪低落，已联系家属", ""]),
    )


async def seed(
    sessions: async_sessionmaker[AsyncSession],
    *,
    count: int = 300,
    label: str = "demo",
    device_prefix: str = "86",
    policy: VisitPolicy = DEFAULT_VISIT_POLICY,
    now: datetime | None = None,
) -> SeedResult:
    """Load `count` elders (each with a device, contacts, assessments and visits); existing ones are skipped."""
    now = now or utcnow()
    result = SeedResult()
    for index in range(count):
        rng = random.Random(f"{label}:{index}")
        elder_id = elder_id_for(label, index)
        async with sessions() as session, session.begin():
            if await session.scalar(select(col(Elder.id)).where(col(Elder.id) == elder_id)) is not None:
                result.skipped += 1
                continue
            await _seed_one(
                session, rng, index=index, elder_id=elder_id, device_prefix=device_prefix, policy=policy, now=now
            )
            await snapshot.publish_changed(session)
        result.created += 1
    return result


async def _seed_one(
    session: AsyncSession,
    rng: random.Random,
    *,
    index: int,
    elder_id: str,
    device_prefix: str,
    policy: VisitPolicy,
    now: datetime,
) -> None:
    region = REGIONS[index % len(REGIONS)]
    person = _person(rng, index, region, now.date())
    elder = await create_elder(session, data=person, elder_id=elder_id)
    # Device ids look like IMEIs; the first seeded elder wears the README's example device.
    device_id = f"{device_prefix}{index + 1:0{15 - len(device_prefix)}d}"
    # 1440…: the IoT number range watches' SIM cards come from; derived from the index, not the
    # random stream, so the rest of the demo population stays what it was.
    await bind_device(
        session, elder_id=elder_id, device_id=device_id, actor=SEED_ACTOR, sim_number=f"1440{index + 1:07d}"
    )
    contacts = [
        ContactIn(
            name=rng.choice(_SURNAMES) + rng.choice(_GIVEN_MALE + _GIVEN_FEMALE),
            relation=rng.choice(_RELATIONS),
            phone=_phone(rng),
            has_key=rng.random() < 0.5,
            distance_km=round(rng.uniform(0.1, 300 if region.area_type is AreaType.PASTORAL else 40), 1),
        )
        for _ in range(rng.randint(1, 3))
    ]
    await set_contacts(session, elder_id=elder_id, contacts=contacts)
    level = rng.choices([0, 1, 2, 3, 4], weights=[30, 30, 20, 13, 7])[0]
    for months_ago, assessed_level in ((14, max(0, level - 1)), (2, level)):
        if months_ago == 14 and rng.random() < 0.5:
            continue
        await record_assessment(
            session,
            elder_id=elder_id,
            data=AssessmentCreate(
                assessed_on=(now - timedelta(days=30 * months_ago)).date(),
                assessor=f"{region.district}评估中心",
                level=assessed_level,
                sub_scores=_sub_scores(rng, assessed_level),
            ),
            actor=SEED_ACTOR,
        )
    for visit in _visits(rng, required_frequency(elder, policy, now.date()), now):
        await record_visit(session, elder_id=elder_id, data=visit, actor=SEED_ACTOR)


def _sub_scores(rng: random.Random, level: int) -> SubScores:
    # Scores fall as the level rises; they are illustrative, the level is what counts.
    scale = 1 - level * 0.22
    return SubScores(
        self_care=round(32 * scale * rng.uniform(0.9, 1.0)),
        basic_motor=round(24 * scale * rng.uniform(0.9, 1.0)),
        mental_state=round(18 * scale * rng.uniform(0.9, 1.0)),
        perception_social=round(16 * scale * rng.uniform(0.9, 1.0)),
    )


async def _main(count: int) -> None:
    settings = CareRecordSettings()
    url = settings.resolved_database_url()
    await db.ensure_database(url)
    engine = db.create_engine(url)
    try:
        await db.run_migrations(engine, MIGRATIONS)
        started = datetime.now(UTC)
        result = await seed(db.session_factory(engine), count=count, policy=settings.visit_policy)
        elapsed = (datetime.now(UTC) - started).total_seconds()
        print(
            f"seeded {result.created} elders ({result.skipped} were there already) into {safe_url(url)} "
            f"in {elapsed:.1f}s; a running care-record publishes their snapshots to dispatch"
        )
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=300, help="how many elders (default 300)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_main(args.count))


if __name__ == "__main__":
    main()
