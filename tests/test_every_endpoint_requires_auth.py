"""Every API endpoint refuses anonymous callers, whatever the method.

The URL list is read from the live URL configuration, so a new endpoint is covered the
moment it is routed; only the endpoints that must be public are listed here.
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

PUBLIC_PATHS = {
    "api/schema/",  # the OpenAPI document
    "api/docs/",  # Swagger UI
    "oauth2/access_token",  # where machines get their token
}
METHODS = ("get", "post", "put", "patch", "delete")


def _route_text(pattern) -> str:
    text = str(pattern.pattern)
    text = re.sub(r"\(\?P<[^>]+>[^)]*\)", "sample", text)  # regex groups, e.g. (?P<pk>[^/.]+)
    text = re.sub(r"<(?:[^:>]+:)?[^>]+>", "sample", text)  # path converters, e.g. <uuid:pk>
    return text.lstrip("^").rstrip("$").replace("\\", "")


def _api_paths() -> list[str]:
    paths: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + _route_text(pattern))
            elif isinstance(pattern, URLPattern):
                if "format" in pattern.pattern.regex.groupindex:
                    continue  # ".json" suffix variants of routes already listed
                path = prefix + _route_text(pattern)
                if path.startswith(("api/", "oauth2/", "enterprise/")) and path not in PUBLIC_PATHS:
                    paths.append(path)

    walk(get_resolver().url_patterns, "")
    return sorted(set(paths))


API_PATHS = _api_paths()


def test_the_url_scan_finds_the_api():
    assert any(p.startswith("api/catalog/v1/") for p in API_PATHS)
    assert any(p.startswith("api/enrollments/v1/") for p in API_PATHS)


@pytest.mark.django_db
@pytest.mark.parametrize("path", API_PATHS)
def test_anonymous_callers_are_refused(anon, path):
    for method in METHODS:
        response = getattr(anon, method)("/" + path)
        assert response.status_code == 401, f"{method.upper()} /{path} answered {response.status_code}"
        assert response.headers.get("WWW-Authenticate", "").startswith("JWT")


@pytest.mark.django_db
@pytest.mark.parametrize("path", API_PATHS)
def test_tampered_tokens_are_refused(anon, path):
    anon.credentials(HTTP_AUTHORIZATION="JWT eyJhbGciOiJIUzI1NiJ9.e30.forged")
    response = anon.get("/" + path)
    assert response.status_code == 401, f"GET /{path} answered {response.status_code}"


# Endpoints where a plain learner may write (their own records only; each app's tests prove the scoping).
LEARNER_WRITABLE = {
    "api/enrollments/v1/enrollments/",
    "api/enrollments/v1/enrollments/sample/",
    # enterprise learners: their own consent, their active customer, activating a license assigned to them
    # (tests/enterprise/test_rest_consent.py, test_rest_customers.py and test_rest_licenses.py show that a
    # learner linked to no customer still gets 403/404 there)
    "enterprise/api/v1/data_sharing_consent/",
    "enterprise/api/v1/enterprise-customer/sample/activate/",
    "enterprise/api/v1/licenses/sample/activate/",
    # enterprise-access: learners acknowledge their own assignments and redeem for themselves
    # (tests/assignments/test_rest_learner.py and test_rest_redemption.py show that anyone else gets 403/404)
    "api/v1/assignment-configurations/sample/acknowledge-assignments/",
    "api/v1/policy-redemption/sample/redeem/",
}


@pytest.mark.django_db
@pytest.mark.parametrize("path", API_PATHS)
def test_learners_cannot_write_outside_their_own_records(learner_api, path):
    for method in ("post", "put", "patch", "delete"):
        response = getattr(learner_api, method)("/" + path, {}, format="json")
        assert response.status_code < 500, f"{method.upper()} /{path} answered {response.status_code}"
        if path not in LEARNER_WRITABLE:
            assert response.status_code in (403, 404, 405), (
                f"a learner's {method.upper()} /{path} answered {response.status_code}"
            )
