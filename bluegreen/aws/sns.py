"""SNS notifications (``[[notify]] kind = "sns"``): one ``Publish`` per run event."""

from __future__ import annotations

from typing import Any

from .session import AwsClients, aws_call

SUBJECT_LIMIT = 100  # SNS rejects longer subjects (InvalidParameter); email shows it as the subject


class SnsPublisher:
    def __init__(self, sns: Any) -> None:
        self._sns = sns

    @classmethod
    def from_clients(cls, clients: AwsClients) -> "SnsPublisher":
        # Few retries: a notification must not hold a release for half a minute of backoff; its
        # failure is reported and the release goes on.
        client = clients._make("sns", clients.config(max_attempts=1))
        return cls(client)

    def publish(self, topic_arn: str, subject: str, message: str) -> None:
        subject = " ".join(subject.split())[:SUBJECT_LIMIT - 1] or "bluegreen"
        with aws_call(f"publish to SNS topic {topic_arn}"):
            self._sns.publish(TopicArn=topic_arn, Subject=subject, Message=message)
