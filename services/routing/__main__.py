"""`python -m services.routing`: run the routing consumer and its operations API."""

from services.routing.bootstrap import create_app
from services.routing.settings import RoutingSettings
from shared.app import run_service


def main() -> None:
    run_service(create_app, RoutingSettings())


if __name__ == "__main__":
    main()
