"""`python -m services.intake`: run the intake API and its consumer."""

from services.intake.bootstrap import create_app
from services.intake.settings import IntakeSettings
from shared.app import run_service


def main() -> None:
    run_service(create_app, IntakeSettings())


if __name__ == "__main__":
    main()
