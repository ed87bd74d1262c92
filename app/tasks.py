"""The task table handed to the job runner: every job kind and the function that runs it (explicit, no
decorators). Periodic jobs are listed here too."""

from __future__ import annotations

from datetime import timedelta

from app.command_table import TABLE
from app.commands import tasks as command_tasks
from app.config import Settings
from app.email import imap as email_imap
from app.email import tasks as email_tasks
from app.maintenance import tasks as maintenance_tasks
from app.mentions import tasks as mention_tasks
from app.mentions import webhooks as mention_webhooks
from app.messages import tasks as message_tasks
from app.posts import tasks as post_tasks
from app.scheduling import tasks as scheduling_tasks
from app.worker.runner import TaskFn
from app.worker.schedule import Periodic

TASKS: dict[str, TaskFn] = {
    "commands.handle_inbound": command_tasks.inbound_task(TABLE),
    "messages.send_sms": message_tasks.send_sms,
    "messages.reconcile_twilio": message_tasks.reconcile,
    "posts.deliver": post_tasks.deliver,
    "posts.remove": post_tasks.remove,
    "posts.receipt": post_tasks.receipt,
    "posts.undo_receipt": post_tasks.undo_receipt,
    "scheduling.publish": scheduling_tasks.publish,
    "ops.notify_operator": post_tasks.notify_operator,
    "maintenance.prune": maintenance_tasks.prune,
    "maintenance.prune_jobs": maintenance_tasks.prune,  # the former name, for jobs queued by an older release
    "mentions.schedule_polls": mention_tasks.schedule_polls,
    "mentions.poll": mention_tasks.poll,
    "mentions.schedule_digests": mention_tasks.schedule_digests,
    "mentions.send_digest": mention_tasks.send_digest,
    "mentions.alert": mention_tasks.alert,
    "mentions.like": mention_tasks.like,
    "mentions.instagram_mention": mention_webhooks.fetch_instagram_mention,
    "email.handle_inbound": email_tasks.inbound_task(TABLE),
    "email.send": email_tasks.send_email,
    "email.poll_imap": email_imap.poll_imap,
}


def periodics(settings: Settings) -> list[Periodic]:
    return [
        Periodic(
            "messages.reconcile_twilio",
            timedelta(minutes=settings.twilio_reconcile_minutes),
            enabled=lambda: settings.sms_uses_twilio,
        ),
        Periodic("maintenance.prune", timedelta(hours=settings.retention_prune_hours)),
        Periodic("mentions.schedule_polls", timedelta(minutes=min(settings.poll_minutes().values()))),
        Periodic("mentions.schedule_digests", timedelta(minutes=5)),
        Periodic(
            "email.poll_imap",
            timedelta(seconds=settings.imap_poll_seconds),
            enabled=lambda: bool(settings.imap_url.get_secret_value()),
        ),
    ]
