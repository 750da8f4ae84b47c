"""`python -m services.reporting`: run the reporting consumer, reports API and metrics."""

from services.reporting.bootstrap import create_app
from services.reporting.settings import ReportingSettings
from shared.app import run_service


def main() -> None:
    run_service(create_app, ReportingSettings())


if __name__ == "__main__":
    main()
