"""The demo's group-chat stand-ins accept what the notification channels post and file it,
so `./huiyin up` shows the ladder's robot posts instead of failures to reach them."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from deploy.group_sinks import GroupSinks
from services.notification.channels import WeComRobot
from services.notification.domain.contacts import Address
from services.notification.domain.messages import Message, RecipientRole
from shared.contracts import DeliveryChannel


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_robot_post_is_accepted_and_filed(tmp_path: Path) -> None:
    port = free_port()
    sinks = GroupSinks(tmp_path, {"wecom-robot": port})
    assert sinks.start() == ["wecom-robot"]
    try:
        message = Message(
            role=RecipientRole.COMPLAINT_OFFICE,
            to=None,
            subject="【回音】投诉管理部门督办 HZ-001-202612-00001",
            body="b",
            short="**投诉管理部门督办** HZ-001-202612-00001",
        )
        url = f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key=demo"
        address = Address(DeliveryChannel.WECOM, url, key="group:office-wecom", shown="office")
        result = WeComRobot(timeout=5).send(message, address, delivery_id="d-1")
        assert result.failure is None
        [line] = (tmp_path / "wecom-robot.jsonl").read_text().splitlines()
        assert "HZ-001-202612-00001" in json.loads(line)["body"]
    finally:
        sinks.stop()
