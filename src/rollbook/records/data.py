"""Value types of the records app."""

from __future__ import annotations

from enum import StrEnum


class CertificateStatus(StrEnum):
    """Where a certificate stands (the Open edX statuses that matter to enrollment and reporting)."""

    DOWNLOADABLE = "downloadable"  # issued: the learner earned it
    NOTPASSING = "notpassing"
    AUDIT_PASSING = "audit_passing"  # passed in a mode that gives no certificate
    AUDIT_NOTPASSING = "audit_notpassing"
    UNAVAILABLE = "unavailable"  # revoked or withheld
    GENERATING = "generating"


# Certificate statuses that mean the learner completed the run.
PASSING_CERTIFICATE_STATUSES: frozenset[CertificateStatus] = frozenset(
    {CertificateStatus.DOWNLOADABLE, CertificateStatus.AUDIT_PASSING}
)
