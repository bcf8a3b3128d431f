"""Realistic demo data, written only through each app's public API.

The data is generated from a fixed random seed, with schedules relative to today, so every
``rollbook demo`` produces the same organizations, courses and people. Loading is idempotent:
the first load writes everything; later loads find the marker organization and only print the
credentials again.
"""

from __future__ import annotations

import json
import os
import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils import timezone

from rollbook.catalog import api as catalog_api
from rollbook.core.data import Role
from rollbook.core.errors import NotFound
from rollbook.enrollments import api as enrollments_api
from rollbook.enrollments.data import EnrollRequest
from rollbook.identity import api as identity_api
from rollbook.programs import api as programs_api

SEED = 20261122
OPERATOR_USERNAME = "operator"
OPERATOR_EMAIL = "operator@rollbook.example"
CLIENT_ID = "demo-client"
CREDENTIALS_FILE = "demo-credentials.json"

ORGANIZATIONS = [
    ("NorthlakeU", "Northlake University"),
    ("MeridianX", "Meridian Institute of Technology"),
    ("CobaltAcademy", "Cobalt Academy of Business"),
    ("AsterHealth", "Aster School of Public Health"),
]

# (org, code, title, language, pacing)
COURSES = [
    ("NorthlakeU", "CS101", "Introduction to Computer Science", "en", "instructor"),
    ("NorthlakeU", "CS150", "Programming in Python", "en", "self"),
    ("NorthlakeU", "CS210", "Data Structures and Algorithms", "en", "instructor"),
    ("NorthlakeU", "STAT110", "Probability for Data Science", "en", "instructor"),
    ("NorthlakeU", "HIST201", "The Industrial Revolution", "en", "self"),
    ("NorthlakeU", "LIT120", "Reading the Modern Novel", "en", "self"),
    ("NorthlakeU", "ES101", "Introducción a la Economía", "es", "instructor"),
    ("NorthlakeU", "MATH221", "Linear Algebra", "en", "instructor"),
    ("MeridianX", "EE100", "Circuits and Electronics", "en", "instructor"),
    ("MeridianX", "ML301", "Machine Learning Foundations", "en", "instructor"),
    ("MeridianX", "ML302", "Deep Learning in Practice", "en", "self"),
    ("MeridianX", "ROB200", "Introduction to Robotics", "en", "instructor"),
    ("MeridianX", "SEC240", "Applied Cryptography", "en", "instructor"),
    ("MeridianX", "CLD150", "Cloud Computing Essentials", "en", "self"),
    ("MeridianX", "QC400", "Quantum Computing for Engineers", "en", "instructor"),
    ("MeridianX", "FR110", "Programmation pour débutants", "fr", "self"),
    ("CobaltAcademy", "MGT101", "Principles of Management", "en", "self"),
    ("CobaltAcademy", "FIN201", "Corporate Finance", "en", "instructor"),
    ("CobaltAcademy", "MKT210", "Digital Marketing Strategy", "en", "self"),
    ("CobaltAcademy", "ACC110", "Financial Accounting", "en", "instructor"),
    ("CobaltAcademy", "LDR300", "Leading High-Performing Teams", "en", "instructor"),
    ("CobaltAcademy", "NEG220", "Negotiation and Persuasion", "es-419", "self"),
    ("CobaltAcademy", "PM150", "Project Management Fundamentals", "en", "self"),
    ("AsterHealth", "EPI101", "Epidemiology: The Basics", "en", "instructor"),
    ("AsterHealth", "GH200", "Global Health Challenges", "en", "self"),
    ("AsterHealth", "NUT120", "Nutrition and Everyday Health", "en", "self"),
    ("AsterHealth", "BIO150", "Biostatistics I", "en", "instructor"),
    ("AsterHealth", "MH210", "Mental Health in the Workplace", "en", "self"),
    ("AsterHealth", "ZH101", "公共卫生导论", "zh-cn", "self"),
    ("AsterHealth", "ENV230", "Climate Change and Health", "en", "instructor"),
]

# Northlake's online Master's degree: its courses also sell the masters track.
PROGRAM_TITLE = "Master of Science in Data Science (online)"
PROGRAM_COURSES = ("CS150", "CS210", "STAT110", "MATH221")
PROGRAM_STUDENTS = 80

FIRST_NAMES = (
    "Amara Ben Chloe Dario Elena Farid Grace Hiro Ines Jonas Kavya Liam Maya Noah Olga Pablo Quinn Rosa "
    "Samir Tara Umar Vera Wei Ximena Yusuf Zoe Aiden Bianca Carlos Dana Emeka Fatima Gustavo Hana Ivan Julia"
).split()
LAST_NAMES = (
    "Adeyemi Bauer Castillo Dubois Eriksen Fischer Garcia Haddad Ito Jensen Kowalski Lopez Martin Nakamura "
    "Okafor Petrov Quispe Rossi Singh Tanaka Usman Varga Wang Xu Yilmaz Zhang Moreau Silva Novak Reyes"
).split()


@dataclass(frozen=True)
class DemoSummary:
    """What the demo contains and how to log in."""

    created: bool
    organizations: int
    courses: int
    runs: int
    learners: int
    enrollments: int
    operator_username: str
    operator_password: str
    client_id: str
    client_secret: str
    credentials_file: Path


def _credentials_path() -> Path:
    return Path(settings.DATA_DIR) / CREDENTIALS_FILE


def _run_schedules(now: datetime, rng: random.Random) -> list[tuple[str, dict]]:
    """Two runs per course drawn from past, current and future terms, relative to ``now``."""
    day = timedelta(days=1)
    terms = {
        "past": (now - 200 * day, now - 110 * day),
        "current": (now - 30 * day, now + 60 * day),
        "future": (now + 45 * day, now + 135 * day),
        "later": (now + 150 * day, now + 240 * day),
    }
    pairs = [("past", "current"), ("current", "future"), ("past", "future"), ("future", "later")]
    chosen = rng.choice(pairs)
    schedules = []
    for term in chosen:
        start, end = terms[term]
        start = start.replace(hour=0, minute=0, second=0, microsecond=0) + rng.randint(0, 10) * day
        end = end.replace(hour=0, minute=0, second=0, microsecond=0) + rng.randint(0, 10) * day
        run_code = start.strftime("%Y_%m")  # terms start months apart, so codes never collide
        schedules.append(
            (
                run_code,
                {
                    "start": start,
                    "end": end,
                    "enrollment_start": start - 60 * day,
                    "enrollment_end": start + 21 * day,
                    "upgrade_deadline": end - 14 * day,
                },
            )
        )
    return schedules


def _catalog_rows(now: datetime, rng: random.Random) -> list[dict[str, str]]:
    rows = []
    for org, code, title, language, pacing in COURSES:
        price = rng.choice([4900, 9900, 14900, 19900])
        for run_code, when in _run_schedules(now, rng):
            if pacing == "self":
                modes = f"audit:0;verified:{price}@{when['upgrade_deadline'].isoformat()}"
            elif code.startswith(("LDR", "FIN")):
                modes = f"professional:{price * 3}"
            else:
                modes = f"audit:0;verified:{price}@{when['upgrade_deadline'].isoformat()}"
            if org == "NorthlakeU" and code in PROGRAM_COURSES:
                modes += ";masters:0"
            rows.append(
                {
                    "course_key": f"course-v1:{org}+{code}+{run_code}",
                    "title": title,
                    "language": language,
                    "start": when["start"].isoformat(),
                    "end": when["end"].isoformat(),
                    "enrollment_start": when["enrollment_start"].isoformat(),
                    "enrollment_end": when["enrollment_end"].isoformat(),
                    "pacing": pacing,
                    "marketable": "true",
                    "modes": modes,
                }
            )
    return rows


def _learner_names(rng: random.Random, count: int) -> list[tuple[str, str, str]]:
    seen: set[str] = set()
    people = []
    while len(people) < count:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        username = f"{first}.{last}".lower()
        suffix = 2
        while username in seen:
            username = f"{first}.{last}{suffix}".lower()
            suffix += 1
        seen.add(username)
        people.append((username, first, last))
    return people


def _write_credentials(data: dict[str, str]) -> None:
    path = _credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.chmod(path, 0o600)


def _read_credentials() -> dict[str, str]:
    try:
        return json.loads(_credentials_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _ensure_credentials() -> dict[str, str]:
    """Make sure the demo operator and API client exist with the passwords on file; return them."""
    known = _read_credentials()
    try:
        operator = identity_api.get_user(username=OPERATOR_USERNAME)
    except NotFound:
        operator = None
    if operator is None or not known.get("operator_password"):
        password = secrets.token_urlsafe(12)
        if operator is None:
            operator = identity_api.create_user(OPERATOR_USERNAME, OPERATOR_EMAIL, password=password, first_name="Demo")
        else:
            identity_api.set_password(operator, password)
        known["operator_password"] = password
    identity_api.make_operator(operator)
    try:
        client = identity_api.get_api_client(CLIENT_ID)
    except NotFound:
        client = None
    if client is None:
        _, known["client_secret"] = identity_api.create_api_client(
            "Demo operator client", roles=[(Role.OPERATOR, None)], client_id=CLIENT_ID
        )
    elif not known.get("client_secret"):
        known["client_secret"] = identity_api.rotate_client_secret(client)
    _write_credentials(known)
    return known


def load_demo(*, learners: int = 200, now: datetime | None = None) -> DemoSummary:
    """Load the demo once (organizations, ~30 courses, ~60 runs, learners, enrollments) and return a summary.

    Safe to call again: when the demo is already there only the credentials are ensured.
    """
    now = now or timezone.now()
    rng = random.Random(SEED)
    marker = ORGANIZATIONS[0][0]
    try:
        catalog_api.get_organization(marker)
        already_loaded = True
    except (NotFound, ObjectDoesNotExist):
        already_loaded = False

    with transaction.atomic():
        credentials = _ensure_credentials()
        if not already_loaded:
            _load_everything(rng, now, learners)

    runs = catalog_api.course_runs_queryset().filter(catalog_course__org__short_name__in=[o for o, _ in ORGANIZATIONS])
    return DemoSummary(
        created=not already_loaded,
        organizations=len(ORGANIZATIONS),
        courses=len(COURSES),
        runs=runs.count(),
        learners=learners,
        enrollments=enrollments_api.enrollments_queryset().filter(course_run__in=runs).count(),
        operator_username=OPERATOR_USERNAME,
        operator_password=credentials["operator_password"],
        client_id=CLIENT_ID,
        client_secret=credentials["client_secret"],
        credentials_file=_credentials_path(),
    )


def _load_everything(rng: random.Random, now: datetime, learner_count: int) -> None:
    for short_name, name in ORGANIZATIONS:
        catalog_api.create_organization(short_name, name=name)
    rows = _catalog_rows(now, rng)
    results = catalog_api.import_catalog_rows(rows)
    failed = [r for r in results if r.status == "error"]
    if failed:
        raise RuntimeError(f"demo catalog rows were refused: {failed[:3]}")

    provider = identity_api.create_identity_provider(
        "northlake-sso", "Northlake University login", organization=catalog_api.get_organization("NorthlakeU")
    )
    people = _learner_names(rng, learner_count)
    learners = []
    for index, (username, first, last) in enumerate(people):
        user = identity_api.create_user(username, f"{username}@learners.example", first_name=first, last_name=last)
        if index % 4 == 0:
            identity_api.link_sso(provider, f"NLU{100000 + index}", user)
        learners.append(user)

    run_keys = [row["course_key"] for row in rows]
    requests = []
    for user in learners:
        for key in rng.sample(run_keys, rng.randint(1, 5)):
            requests.append(
                EnrollRequest(course_key=key, user_id=user.pk, mode="verified" if rng.random() < 0.3 else None)
            )
    results = enrollments_api.bulk_enroll(requests, skip_access_checks=True)
    # a learner may be offered "verified" on a run that sells only "professional": enroll those in the best mode
    retry = [
        EnrollRequest(course_key=r.request.course_key, user_id=r.request.user_id)
        for r in results
        if r.status == "invalid_mode"
    ]
    if retry:
        enrollments_api.bulk_enroll(retry, skip_access_checks=True)
    _load_program(rows, now)

    # about one enrollment in fifteen was later dropped by its learner
    by_id = {user.pk: user for user in learners}
    for request in requests[::15]:
        user = by_id[request.user_id]
        if enrollments_api.is_enrolled(user, request.course_key):
            enrollments_api.unenroll(user, request.course_key)


def _load_program(catalog_rows: list[dict[str, str]], now: datetime) -> None:
    """Northlake's Master's program: 80 students by student key (every fourth one already linked through
    ``northlake-sso``), enrolled in the running or next run of each program course."""
    program = programs_api.create_program(PROGRAM_TITLE, organizations=["NorthlakeU"])
    programs_api.create_curriculum(
        program, name="2026 curriculum", catalog_course_keys=[f"catalog-course:NorthlakeU:{c}" for c in PROGRAM_COURSES]
    )
    keys = [f"NLU{100000 + index}" for index in range(PROGRAM_STUDENTS)]
    statuses = ["enrolled"] * 70 + ["pending"] * 6 + ["suspended", "canceled", "ended", "ended"]
    programs_api.write_program_enrollments(
        program,
        [programs_api.ProgramEnrollmentRequest(key, status) for key, status in zip(keys, statuses, strict=True)],
        create=True,
        update=False,
    )
    for code in PROGRAM_COURSES:
        runs = sorted(
            (row for row in catalog_rows if row["course_key"].startswith(f"course-v1:NorthlakeU+{code}+")),
            key=lambda row: row["start"],
        )
        running = next((row for row in runs if datetime.fromisoformat(row["end"]) > now), runs[-1])
        programs_api.write_program_course_enrollments(
            program,
            running["course_key"],
            [programs_api.ProgramCourseEnrollmentRequest(key, "active") for key in keys[:70]],
            create=True,
            update=False,
        )
