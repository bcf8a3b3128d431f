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
from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils import timezone

from rollbook.assignments import api as assignments_api
from rollbook.budgets import api as budgets_api
from rollbook.catalog import api as catalog_api
from rollbook.core import api as core_api
from rollbook.core.data import Role, Scope, ScopeKind
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.enrollments import api as enrollments_api
from rollbook.enrollments.data import EnrollRequest
from rollbook.enterprise import api as enterprise_api
from rollbook.enterprise.data import EnrollItem, EnrollOutcome
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

# The enterprise part: Acme, a company whose employees learn with a subscription, and Northwind, a
# second small customer to show that one customer's administrator sees nothing of another's.
LEARNER_EMAIL_DOMAIN = "learners.example"
ACME_SLUG = "acme"
ACME_NAME = "Acme Learning Co."
ACME_ORGANIZATIONS = ("MeridianX", "CobaltAcademy")
ACME_SEATS = 100
ACME_ACTIVATED = 40  # demo learners holding an activated license
ACME_ASSIGNED = 10  # the next ones: a license assigned, not activated yet
ACME_PENDING_EMAILS = tuple(f"new.hire{number}@acme.example" for number in range(1, 6))  # no account yet
ACME_CONSENTING = 5  # activated learners who granted data-sharing consent for the default course
ACME_ADMIN_USERNAME = "acme-admin"
ACME_ADMIN_EMAIL = "l-and-d@acme.example"
ACME_CLIENT_ID = "demo-acme-admin"
NORTHWIND_SLUG = "northwind"
NORTHWIND_NAME = "Northwind Health Partners"
NORTHWIND_ORGANIZATIONS = ("AsterHealth",)
NORTHWIND_SEATS = 10
NORTHWIND_LEARNERS = 5

# Acme's learner credit: a direct budget its learners spend themselves, and an assigned budget from which its
# administrators assign courses by email (some to employees without an account yet).
ACME_DIRECT_BUDGET = "Acme learner credit"
ACME_ASSIGNED_BUDGET = "Acme assigned courses"
ACME_PILOT_BUDGET = "Acme assignment pilot (ended)"
ACME_DIRECT_LIMIT_CENTS = 2_000_000
ACME_ASSIGNED_LIMIT_CENTS = 1_500_000
ACME_ASSIGNMENTS = 30  # on the assigned budget
ACME_ASSIGNED_ACCOUNTS = 20  # of which to learners with an account (fewer when the demo has fewer learners)
ACME_DIRECT_REDEMPTIONS = 3
ACME_COLLEAGUE_EMAIL = "colleague{}@acme.example"  # assigned emails without an account

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
    customers: int = 0
    acme_uuid: str = ""
    acme_learners: dict[str, int] | None = None  # linked learners of Acme by kind (see enterprise_counts)
    acme_intentions: tuple[str, ...] = ()
    acme_budgets: tuple[str, ...] = ()  # titles of Acme's learner-credit budgets
    acme_assignments: dict[str, int] | None = None  # Acme's assignments by state (see assignment_counts)
    enterprise_admin_username: str = ACME_ADMIN_USERNAME
    enterprise_admin_password: str = ""
    enterprise_client_id: str = ACME_CLIENT_ID
    enterprise_client_secret: str = ""


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


def _ensure_enterprise_credentials(known: dict[str, str]) -> dict[str, str]:
    """Make sure Acme's enterprise administrator (a user and an API client) exists with the secrets on file."""
    acme = enterprise_api.get_customer(ACME_SLUG)
    scope = Scope(ScopeKind.ENTERPRISE_CUSTOMER, str(acme.uuid))
    try:
        admin = identity_api.get_user(username=ACME_ADMIN_USERNAME)
    except NotFound:
        admin = None
    if admin is None or not known.get("acme_admin_password"):
        password = secrets.token_urlsafe(12)
        if admin is None:
            admin = identity_api.create_user(
                ACME_ADMIN_USERNAME, ACME_ADMIN_EMAIL, password=password, first_name="Acme", last_name="L&D"
            )
        else:
            identity_api.set_password(admin, password)
        known["acme_admin_password"] = password
    core_api.grant(admin, Role.ENTERPRISE_ADMIN, scope)
    try:
        client = identity_api.get_api_client(ACME_CLIENT_ID)
    except NotFound:
        client = None
    if client is None:
        _, known["acme_client_secret"] = identity_api.create_api_client(
            "Acme enterprise administrator (demo)", roles=[(Role.ENTERPRISE_ADMIN, scope)], client_id=ACME_CLIENT_ID
        )
    elif not known.get("acme_client_secret"):
        known["acme_client_secret"] = identity_api.rotate_client_secret(client)
    _write_credentials(known)
    return known


def load_demo(*, learners: int = 200, now: datetime | None = None) -> DemoSummary:
    """Load the demo once (organizations, ~30 courses, ~60 runs, learners, enrollments, a Master's program,
    two enterprise customers) and return a summary.

    Safe to call again: when the demo is already there only the credentials are ensured. The enterprise part
    has its own marker (the customer ``acme``), so a demo loaded before it existed gets it on the next call.
    """
    now = now or timezone.now()
    rng = random.Random(SEED)
    marker = ORGANIZATIONS[0][0]
    try:
        catalog_api.get_organization(marker)
        already_loaded = True
    except (NotFound, ObjectDoesNotExist):
        already_loaded = False

    try:
        enterprise_api.get_customer(ACME_SLUG)
        enterprise_loaded = True
    except NotFound:
        enterprise_loaded = False

    with transaction.atomic():
        credentials = _ensure_credentials()
        if not already_loaded:
            _load_everything(rng, now, learners)
        if not enterprise_loaded:
            _load_enterprise(now)
        credentials = _ensure_enterprise_credentials(credentials)

    # Learner credit has its own marker (Acme's budgets) and transaction: what its after-commit work does
    # (notification emails, the refund of an unenrollment) is done when load_demo returns.
    if not budgets_api.budgets_queryset(ACME_SLUG).exists():
        with transaction.atomic():
            _load_learner_credit()

    runs = catalog_api.course_runs_queryset().filter(catalog_course__org__short_name__in=[o for o, _ in ORGANIZATIONS])
    acme = enterprise_api.get_customer(ACME_SLUG)
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
        customers=enterprise_api.customers_queryset().filter(slug__in=[ACME_SLUG, NORTHWIND_SLUG]).count(),
        acme_uuid=str(acme.uuid),
        acme_learners=enterprise_counts(acme),
        acme_intentions=tuple(enterprise_api.intentions_queryset(acme).values_list("content_key", flat=True)),
        acme_budgets=tuple(budgets_api.budgets_queryset(acme).order_by("id").values_list("title", flat=True)),
        acme_assignments=assignment_counts(acme),
        enterprise_admin_password=credentials["acme_admin_password"],
        enterprise_client_secret=credentials["acme_client_secret"],
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


# --- enterprise ------------------------------------------------------------------------------------


def enterprise_counts(customer) -> dict[str, int]:
    """A customer's linked learners by kind: ``licensed`` (an activated license), ``invited`` (a license
    assigned, not activated), ``pending`` (an email without an account) and ``total``."""
    linked = enterprise_api.learners_queryset(customer).filter(linked=True)
    licenses = enterprise_api.licenses_queryset().filter(plan__customer=customer)
    return {
        "total": linked.count(),
        "pending": linked.filter(user__isnull=True).count(),
        "licensed": licenses.filter(status="activated").count(),
        "invited": licenses.filter(status="assigned", user__isnull=False).count(),
    }


def _demo_learners() -> list:
    """The demo's learners (not the operator, admins or service accounts), oldest first."""
    return list(
        get_user_model()
        .objects.filter(email__endswith=f"@{LEARNER_EMAIL_DOMAIN}", is_service_account=False)
        .order_by("pk")
    )


def _default_contents(organizations: tuple[str, ...], now: datetime) -> tuple[str, str]:
    """``(course key, run key)`` for default enrollments among the organizations' courses, first in ``COURSES``
    order: a course whose advertised run is open for enrollment and sells a verified seat, and a run of
    another course that is open for enrollment and sells one too."""
    runs_by_course: dict[tuple[str, str], list] = {}
    runs = catalog_api.course_runs_of_organizations(organizations).select_related("catalog_course__org")
    for run in runs.prefetch_related("modes"):
        runs_by_course.setdefault((run.catalog_course.org.short_name, run.catalog_course.course_code), []).append(run)

    def sells_verified(run) -> bool:
        return catalog_api.is_enrollable(run, now) and any(mode.slug == "verified" for mode in run.modes.all())

    course_key = course_code = None
    for org, code, *_ in COURSES:
        advertised = catalog_api.choose_advertised_run(runs_by_course.get((org, code), []), now)
        if org in organizations and advertised is not None and sells_verified(advertised):
            course_key, course_code = f"catalog-course:{org}:{code}", code
            break
    run_key = next(
        (
            str(run.course_key)
            for org, code, *_ in COURSES
            if org in organizations and code != course_code
            for run in sorted(runs_by_course.get((org, code), []), key=lambda run: run.start)
            if sells_verified(run)
        ),
        None,
    )
    if course_key is None or run_key is None:
        raise RuntimeError(f"demo: no course of {', '.join(organizations)} is open for enrollment")
    return course_key, run_key


def _license_plan(customer, catalog, title: str, seats: int, now: datetime, licensed: list, invited: list):
    """A current plan of ``seats`` licenses: activated for ``licensed`` users, assigned to ``invited`` ones."""
    plan = enterprise_api.create_plan(
        customer,
        catalog=catalog,
        title=title,
        seats=seats,
        start=now - timedelta(days=60),
        expiration=now + timedelta(days=305),
    )
    enterprise_api.assign_licenses(plan, [user.email for user in [*licensed, *invited]])
    by_email = {
        license.user_email_normalized: license
        for license in enterprise_api.licenses_queryset(plan).filter(status="assigned")
    }
    for user in licensed:
        enterprise_api.activate_license(by_email[user.email_normalized], user)
    return plan


def _load_enterprise(now: datetime) -> None:
    """Acme (consent at enrollment, a 100-seat plan, 40 licensed learners, 10 invited, 5 pending emails one of
    whom waits with a license for a course, two default enrollments realized for everyone — one learner then
    left one of them —, consent granted by a few and refused by one) and Northwind (5 licensed learners, one
    default course)."""
    people = _demo_learners()
    acme_people = people[: ACME_ACTIVATED + ACME_ASSIGNED]
    northwind_people = people[ACME_ACTIVATED + ACME_ASSIGNED :][:NORTHWIND_LEARNERS]

    acme = enterprise_api.create_customer(name=ACME_NAME, slug=ACME_SLUG)
    catalog = enterprise_api.create_catalog(
        acme, title="Acme technology and business", organization_short_names=ACME_ORGANIZATIONS
    )
    plan = _license_plan(
        acme,
        catalog,
        "Acme Learning subscription",
        ACME_SEATS,
        now,
        licensed=acme_people[:ACME_ACTIVATED],
        invited=acme_people[ACME_ACTIVATED:],
    )
    enterprise_api.link_learners(acme, ACME_PENDING_EMAILS)
    course_key, run_key = _default_contents(ACME_ORGANIZATIONS, now)
    enterprise_api.create_intention(acme, course_key)
    enterprise_api.create_intention(acme, run_key)

    # a new hire with no account yet already holds a license and waits for a course
    new_hire = ACME_PENDING_EMAILS[0]
    enterprise_api.assign_licenses(plan, [new_hire])
    license = enterprise_api.licenses_queryset(plan).get(user_email_normalized=new_hire)
    item = EnrollItem(course_run_key=run_key, email=new_hire, license_uuid=str(license.uuid))
    outcome = enterprise_api.enroll_learners_in_courses(acme, [item])[0]
    if outcome.outcome != EnrollOutcome.PENDING:
        raise RuntimeError(f"demo: the new hire's enrollment was not left pending: {outcome}")

    for user in acme_people[:ACME_CONSENTING]:
        enterprise_api.grant_consent(acme, user, course_key)
    for user in acme_people[ACME_CONSENTING : ACME_CONSENTING + 1]:
        enterprise_api.revoke_consent(acme, user, course_key)
    enterprise_api.realize_for_customer(acme)
    # one licensed learner then left the run: learner status shows it is never enrolled there again
    if acme_people:
        leaver = acme_people[min(ACME_ACTIVATED, len(acme_people)) - 1]
        if enrollments_api.is_enrolled(leaver, run_key):
            enrollments_api.unenroll(leaver, run_key)

    northwind = enterprise_api.create_customer(
        name=NORTHWIND_NAME,
        slug=NORTHWIND_SLUG,
        enforce_data_sharing_consent="externally_managed",
        enable_audit_enrollment=True,
    )
    northwind_catalog = enterprise_api.create_catalog(
        northwind, title="Northwind public health", organization_short_names=NORTHWIND_ORGANIZATIONS
    )
    _license_plan(
        northwind,
        northwind_catalog,
        "Northwind pilot",
        NORTHWIND_SEATS,
        now,
        licensed=northwind_people,
        invited=[],
    )
    enterprise_api.create_intention(northwind, _default_contents(NORTHWIND_ORGANIZATIONS, now)[0])
    enterprise_api.realize_for_customer(northwind)


# --- learner credit: budgets and content assignments ------------------------------------------------------


def assignment_counts(customer) -> dict[str, int]:
    """A customer's content assignments by state (every state present, zero included) and ``total``."""
    counts = dict.fromkeys(("allocated", "accepted", "cancelled", "errored", "expired", "reversed"), 0)
    for configuration in assignments_api.configurations_queryset(customer):
        for state in assignments_api.admin_assignments(configuration).values_list("state", flat=True):
            counts[state] += 1
    counts["total"] = sum(counts.values())
    return counts


def _intention_course_codes(customer) -> set[str]:
    """The course codes the customer's default enrollments name (a course or one of its runs)."""
    codes = set()
    for key in enterprise_api.intentions_queryset(customer).values_list("content_key", flat=True):
        codes.add(key.split(":")[-1] if key.startswith("catalog-course:") else key.split("+")[1])
    return codes


def _redeemable_courses(customer, organizations: tuple[str, ...]) -> list[tuple[str, str, int]]:
    """``(course key, run key, price in cents)`` of the organizations' courses, in ``COURSES`` order, whose
    advertised run can be enrolled in now and has a paid mode, leaving out the default-enrollment courses."""
    now = timezone.now()
    skipped = _intention_course_codes(customer)
    found = []
    for org, code, *_ in COURSES:
        if org not in organizations or code in skipped:
            continue
        course_key = f"catalog-course:{org}:{code}"
        try:
            run, price = budgets_api.resolve_content(course_key)
        except InvalidInput:
            continue
        if catalog_api.is_enrollable(run, now) and price > 0:
            found.append((course_key, str(run.course_key), price))
    return found


def _not_enrolled(people: list, run_key: str) -> list:
    """Those of ``people`` without an active enrollment in the run."""
    return [user for user in people if not enrollments_api.is_enrolled(user, run_key)]


def _load_learner_credit() -> None:
    """Acme's learner credit, written through the budgets and assignments APIs.

    - A direct budget, from which a few licensed learners have redeemed a course themselves.
    - An assigned budget whose administrator assigned a course to ``ACME_ASSIGNMENTS`` emails (most of them
      learners with an account, the rest colleagues without one yet, one email typed in upper case) and a
      second course to a few of them. Some accepted (enrolled, paid from the budget), one of whom then left
      the course within the refund window (reversed, money back); some were reminded; two were cancelled —
      one of them acknowledged by the learner, the other assigned again; the rest wait.
    - An ended pilot budget whose few unaccepted assignments expired with it (the daily expiry job).
    """
    acme = enterprise_api.get_customer(ACME_SLUG)
    catalog = enterprise_api.catalogs_queryset(acme).order_by("id").first()
    admin = identity_api.get_user(username=ACME_ADMIN_USERNAME)
    courses = _redeemable_courses(acme, ACME_ORGANIZATIONS)
    if len(courses) < 3:
        raise RuntimeError(f"demo: only {len(courses)} Acme course(s) can be paid for with learner credit now")
    (main_course, main_run, main_price), (second_course, second_run, second_price), (direct_course, direct_run, _) = (
        courses[:3]
    )
    now = timezone.now()
    people = _demo_learners()[:ACME_ACTIVATED]  # Acme's licensed learners

    direct = budgets_api.create_budget(
        acme,
        catalog=catalog,
        title=ACME_DIRECT_BUDGET,
        spend_limit_cents=ACME_DIRECT_LIMIT_CENTS,
        per_learner_spend_limit_cents=ACME_DIRECT_LIMIT_CENTS // 10,
        start=now - timedelta(days=60),
        expiration=now + timedelta(days=305),
    )
    for user in _not_enrolled(people[::-1], direct_run)[:ACME_DIRECT_REDEMPTIONS]:
        budgets_api.redeem(direct, user, direct_course)

    assigned = budgets_api.create_budget(
        acme,
        catalog=catalog,
        title=ACME_ASSIGNED_BUDGET,
        spend_limit_cents=ACME_ASSIGNED_LIMIT_CENTS,
        start=now - timedelta(days=60),
        expiration=now + timedelta(days=305),
        access_method="assigned",
    )
    configuration = assignments_api.ensure_configuration(assigned)
    assignees = _not_enrolled(people, main_run)[:ACME_ASSIGNED_ACCOUNTS]
    colleagues = [ACME_COLLEAGUE_EMAIL.format(number) for number in range(1, ACME_ASSIGNMENTS - len(assignees) + 1)]
    emails = [user.email for user in assignees] + colleagues
    if assignees:
        emails[0] = emails[0].upper()  # matched to its account all the same
    allocation = assignments_api.allocate(assigned, emails, main_course, main_price, admin)
    by_email = {
        row.learner_email_normalized: row
        for row in assignments_api.admin_assignments(configuration).filter(uuid__in=allocation.created)
    }
    assignment_of = {user.pk: by_email[user.email_normalized] for user in assignees}

    accepting = assignees[:6]
    for user in accepting:
        assignments_api.accept(assigned, user, main_course)
    waiting_learners = assignees[len(accepting) :]
    reminded = [assignment_of[user.pk].uuid for user in waiting_learners[:3]]
    if reminded:
        assignments_api.remind(configuration, reminded)
    cancelled = waiting_learners[3:5]
    if cancelled:
        assignments_api.cancel(configuration, [assignment_of[user.pk].uuid for user in cancelled])
        assignments_api.acknowledge(configuration, [assignment_of[cancelled[0].pk].uuid], cancelled[0])
    if len(cancelled) == 2:  # the administrator changed their mind: assigned again
        assignments_api.allocate(assigned, [cancelled[1].email], main_course, main_price, admin)
    second = [user.email for user in _not_enrolled(waiting_learners[5:], second_run)[:3]] + colleagues[:1]
    assignments_api.allocate(assigned, second, second_course, second_price, admin)

    pilot = budgets_api.create_budget(
        acme,
        catalog=catalog,
        title=ACME_PILOT_BUDGET,
        spend_limit_cents=ACME_ASSIGNED_LIMIT_CENTS // 10,
        start=now - timedelta(days=120),
        expiration=now + timedelta(days=1),
        access_method="assigned",
    )
    assignments_api.allocate(pilot, colleagues[-3:], second_course, second_price, admin)
    budgets_api.update_budget(pilot, expiration=timezone.now() - timedelta(seconds=1))
    assignments_api.expire_due()

    # one learner left the course the day they accepted it: refunded (after commit), the assignment reversed
    if accepting:
        enrollments_api.unenroll(accepting[-1], main_run)
