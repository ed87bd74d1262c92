"""The command table handed to the command pipeline: every parser result a handler takes and the feature
handler that takes it (explicit, no decorators), like ``app/tasks.py`` for jobs. It sits above the features so
that ``app/commands/`` (parser, context, pipeline) imports none of them.

What no handler takes (``Suggest``, ``Invalid``, a lone word) is answered by the pipeline itself
(``app.commands.service.dispatch``).
"""

from __future__ import annotations

from app.commands import parser as p
from app.commands import service as command_service
from app.commands.context import CommandTable, Handler
from app.email import service as email_service
from app.members import commands as member_commands
from app.mentions import commands as mention_commands
from app.posts import commands as post_commands
from app.scheduling import commands as schedule_commands

COMMANDS: dict[type, Handler] = {
    p.Help: member_commands.help_,
    p.Stop: member_commands.stop,
    p.Start: member_commands.start,
    p.Language: member_commands.language,
    p.Confirm: member_commands.confirm,
    p.Pin: member_commands.pin,
    p.Publish: post_commands.publish_command,
    p.Unknown: post_commands.free_text,
    p.Empty: post_commands.free_text,
    p.Undo: post_commands.undo,
    p.Status: post_commands.status,
    p.Schedule: schedule_commands.schedule,
    p.Scheduled: schedule_commands.listing,
    p.Unschedule: schedule_commands.unschedule_command,
    p.Mentions: mention_commands.mentions,
    p.Reply: mention_commands.answer,
    p.Like: mention_commands.answer,
    p.Hours: mention_commands.hours,
    p.Pause: mention_commands.pause,
    p.Resume: mention_commands.resume,
    p.Alerts: mention_commands.alerts,
}

TABLE = CommandTable(
    handlers=COMMANDS,
    publish=post_commands.publish,
    dispatch=command_service.dispatch,
    before_mentions=mention_commands.poll_before_digest,
    held_photos=email_service.held_photos,
)
