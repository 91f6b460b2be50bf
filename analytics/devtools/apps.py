from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Development only: the benchmark suite, the e2e harness, the development broker and
    the fault injections the tests use. Installed by the dev and test profiles; production
    settings leave it out and the Docker image does not carry it."""

    name = "analytics.devtools"
    label = "devtools"
    verbose_name = "Development tools"

    def ready(self) -> None:
        from analytics.devtools.faults import install_from_environment

        install_from_environment()
