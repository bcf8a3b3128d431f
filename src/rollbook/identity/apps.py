from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "rollbook.identity"
    label = "identity"
    verbose_name = "Identity: users, SSO and API clients"

    def ready(self) -> None:
        from rollbook.identity import receivers

        receivers.connect()
