"""Users, identity providers, SSO links and API clients."""

import uuid

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from simple_history.models import HistoricalRecords

from rollbook.core.normalise import normalise_key


class RollbookUserManager(UserManager):
    def get_by_natural_key(self, username):
        return self.get(username=username)


class User(AbstractUser):
    """A person or a service account. Email is unique case-insensitively (via ``email_normalized``)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField("email address", max_length=254)
    email_normalized = models.CharField(max_length=254, unique=True, editable=False)
    is_service_account = models.BooleanField(
        default=False, help_text="A machine identity behind an API client; it cannot log in with a password."
    )

    # Password hashes and login times stay out of the history; everything else is kept.
    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    objects = RollbookUserManager()

    REQUIRED_FIELDS = ["email"]

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~models.Q(email_normalized=""), name="user_email_not_empty"),
        ]

    def save(self, *args, **kwargs):
        self.email = (self.email or "").strip()
        self.email_normalized = normalise_key(self.email)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "email" in update_fields:
            kwargs["update_fields"] = {*update_fields, "email_normalized"}
        super().save(*args, **kwargs)


class IdentityProvider(models.Model):
    """A single-sign-on provider, usually a university's SAML/OIDC login, tied to an organization."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    organization = models.ForeignKey(
        "catalog.Organization", on_delete=models.PROTECT, null=True, blank=True, related_name="identity_providers"
    )
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return self.slug


class SsoLink(models.Model):
    """A user's identity at a provider: the provider's external user key, as given and normalised."""

    provider = models.ForeignKey(IdentityProvider, on_delete=models.PROTECT, related_name="links")
    external_user_key = models.CharField(max_length=255)
    external_user_key_normalized = models.CharField(max_length=255, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sso_links")
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_user_key_normalized"], name="unique_sso_link_per_provider_key"
            ),
            models.UniqueConstraint(fields=["provider", "user"], name="unique_sso_link_per_provider_user"),
            models.CheckConstraint(
                condition=models.Q(external_user_key_normalized__gt=""), name="sso_link_key_not_empty"
            ),
        ]

    def save(self, *args, **kwargs):
        self.external_user_key_normalized = normalise_key(self.external_user_key)
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.provider.slug}:{self.external_user_key}"


class ApiClient(models.Model):
    """OAuth2 client-credentials client. It acts as its service user, whose roles it holds."""

    client_id = models.CharField(max_length=100, unique=True)
    secret_hash = models.CharField(max_length=255, help_text="Django password hash of the client secret.")
    name = models.CharField(max_length=255)
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="api_client")
    is_active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["secret_hash"])

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(client_id__regex=r"^[A-Za-z0-9_.-]+$"), name="api_client_id_chars"
            ),
            models.CheckConstraint(condition=models.Q(name__gt=""), name="api_client_name_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"
