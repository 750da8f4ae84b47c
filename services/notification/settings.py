from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr

from shared.contracts import DeliveryChannel
from shared.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    service_name: str = "notification"
    database: str = "huiyin_notification"
    http_port: int = 8003
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    delivery_retry_delays_seconds: tuple[Annotated[float, Field(gt=0, le=86_400)], ...] = Field(
        default=(10.0, 60.0, 300.0, 1800.0),
        max_length=10,
        description="the pause before each further attempt of a delivery that failed in a way "
        "that may pass (4xx reply, connection refused, timeout); each waits in a broker retry "
        "queue; once the last is used the delivery fails for good and the office is told",
    )
    mail_from: str = "回音投诉平台 <noreply@huiyin.example.org>"
    tracking_url: str = "http://127.0.0.1:8001/v1/track/"
    case_url: str = Field(
        default="http://127.0.0.1:8001/v1/complaints/",
        description="the link to a case that staff notices carry, the complaint id appended; "
        "empty leaves the link out",
    )
    http_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="each phase of a robot's or webhook's request"
    )
    # SMS through an HTTP gateway in Aliyun's shape (services/notification/channels/sms.py);
    # without an AccessKey id there is no SMS channel.
    sms_endpoint: str = "https://dysmsapi.aliyuncs.com/"
    sms_access_key_id: str = ""
    sms_access_key_secret: SecretStr = SecretStr("")
    sms_sign_name: str = "回音投诉平台"
    sms_region_id: str = "cn-hangzhou"
    sms_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # The ladder's deliveries as Celery tasks (services/notification/deliveries/).
    ladder_max_attempts: int = Field(
        default=6, ge=1, le=20, description="attempts of one delivery before it fails for good"
    )
    ladder_backoff_seconds: float = Field(
        default=10.0,
        gt=0,
        description="the first pause after an attempt that may pass; "
        "each further pause doubles (with jitter) up to ladder_backoff_cap_seconds",
    )
    ladder_backoff_cap_seconds: float = Field(default=600.0, gt=0, le=1800)
    ladder_attempt_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="an attempt claimed this long ago by a process "
        "that cannot be seen alive has an unknown outcome",
    )
    sms_record_lag_seconds: float = Field(
        default=30.0,
        ge=0,
        le=600,
        description="how long after an SMS of unknown outcome "
        "the gateway's records are asked whether it went out (they lag behind a send)",
    )
    robot_per_minute: int = Field(
        default=20,
        ge=0,
        description="sends to one WeCom or DingTalk robot per minute, "
        "counted across every worker (0: no limit)",
    )
    sms_per_minute: int = Field(default=0, ge=0, description="the SMS gateway's; 0: no limit")
    release_scan_seconds: float = Field(
        default=60.0, gt=0, description="how often the beat releases deferred notices"
    )
    digest_at: str = Field(
        default="08:30",
        pattern=r"^\d{2}:\d{2}$",
        description="China time of the supervisors' morning digest on working days",
    )
    api_keys: str = Field(
        default="", description="principal:sha256 pairs for the admin API (parked messages)"
    )

    def channels(self) -> frozenset[DeliveryChannel]:
        """The channels this deployment can send through: SMS only with a gateway."""
        every = frozenset(DeliveryChannel)
        return every if self.sms_access_key_id else every - {DeliveryChannel.SMS}
