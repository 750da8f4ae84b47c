"""`python -m services.notification`: run the notification consumer and its operations API."""

from services.notification.bootstrap import create_app
from services.notification.settings import NotificationSettings
from shared.app import run_service


def main() -> None:
    run_service(create_app, NotificationSettings())


if __name__ == "__main__":
    main()
