"""The posts commands: ``PUBLIER`` and free text (publish, or ask first), ``ANNULER`` (remove), ``ETAT``.

A publish answers with no message of its own: the post's receipt (``app.posts.tasks.receipt``) is the command's
one answer, by the channel it came by.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from app.catalogue import label, t
from app.commands import parser as p
from app.commands.context import Ctx, ask, needs_pin, pending, quote, refuse_empty, waiting_question
from app.models import AccountStatus, NetworkAccount, Post, PostStatus, PublishMode
from app.ocr import flow as ocr_flow
from app.posts import service as post_service


async def publish(ctx: Ctx, text: str) -> str:
    text = text.strip()
    if refused := await refuse_empty(ctx, text):
        return refused
    if waiting := await needs_pin(
        ctx, {"action": "publish", "text": text, "media": ctx.media}, "publish: waiting for PIN"
    ):
        return waiting
    post, _ = await post_service.create(
        ctx.s,
        biz=ctx.biz,
        text=text,
        media=ctx.media,
        source=ctx.source,
        author_member_id=ctx.member.id,
        source_message_id=ctx.inbound.id,
        actor=f"member:{ctx.member.id}",
        receipt_deadline=ctx.rt.settings.receipt_deadline_seconds,
        public_url=ctx.rt.settings.public_url,
    )
    ctx.replied = True  # the receipt job is this command's one answer
    return f"publish: #{post.number}"


async def publish_command(ctx: Ctx, cmd: p.Publish) -> str:
    if (board := await ocr_flow.intercept(ctx, cmd.text)) is not None:
        return board  # a bare PUBLIER with a chalkboard photo, or the text correcting one
    return await publish(ctx, cmd.text)


async def free_text(ctx: Ctx, cmd: p.Unknown | p.Empty) -> str:
    """Text with no keyword (or a photo alone): published at once in direct mode, else offered (``OUI``)."""
    text = cmd.text if isinstance(cmd, p.Unknown) else ""
    if not text and not ctx.media:
        await ctx.reply("empty_post" if ctx.media_error is False else "media_failed")
        return "empty"
    if (board := await ocr_flow.intercept(ctx, text)) is not None:
        return board  # a chalkboard photo without a caption, or the text correcting one
    if ctx.biz.publish_mode == PublishMode.direct.value:
        return await publish(ctx, text)
    if ctx.media_error and not ctx.media:
        # Same answer as PUBLIER: the photo could not be fetched, so do not offer to post the text alone.
        await ctx.reply("media_failed")
        return "refused: media"
    assert ctx.member.id is not None
    earlier = await pending(ctx.s, [ctx.member.id], "confirm", ctx.trust)
    joined = ""
    if earlier is not None and earlier.payload.get("action") == "publish":
        # A second text while the first waits for OUI (a phone that split a long message, or an
        # afterthought): one post with both, so that OUI loses neither.
        before = str(earlier.payload.get("text", "")).strip()
        text = "\n".join(x for x in (before, text) if x)
        ctx.media = [*(dict(x) for x in earlier.payload.get("media", [])), *ctx.media]
        joined = " (joined to the text waiting for OUI)"
    await ask(ctx, "confirm", {"action": "publish", "text": text, "media": ctx.media})
    minutes = ctx.rt.settings.confirm_minutes
    if text:
        await ctx.reply("confirm_publish", quote=quote(text), minutes=minutes)
    else:
        await ctx.reply("confirm_photo", minutes=minutes)
    return "asked to confirm a publish" + joined


async def undo(ctx: Ctx, cmd: p.Undo) -> str:
    number = cmd.number
    if number is None and not ctx.pin_ok and (question := await waiting_question(ctx)) is not None:
        # "Publier ce texte? Repondez OUI" answered ANNULER means no, not "delete my last post".
        await ctx.s.delete(question)
        await ctx.reply("cancelled")
        return "undo: cancelled the open question"
    again = f"ANNULER {number}" if number else "ANNULER"
    if waiting := await needs_pin(
        ctx, {"action": "command", "text": again}, "undo: waiting for PIN", unseen_only=False
    ):
        return waiting
    q = select(Post).where(col(Post.business_id) == ctx.biz.id)
    if number is not None:
        q = q.where(col(Post.number) == number)
    else:
        # "your last post": a colleague's post (or the operator's) is removed only by its number, and an answer
        # to a mention (numbered -1, -2...: owners never see those numbers) is no post of the page
        q = q.where(
            col(Post.author_member_id) == ctx.member.id,
            col(Post.number) > 0,
            col(Post.status).notin_(
                [
                    PostStatus.deleting.value,
                    PostStatus.deleted.value,
                    PostStatus.scheduled.value,
                    PostStatus.cancelled.value,
                ]
            ),
        )
    post = (await ctx.s.execute(q.order_by(col(Post.number).desc()).limit(1))).scalar_one_or_none()
    if post is None:
        if number is None:
            await ctx.reply("undo_none")
        else:
            await ctx.reply("undo_unknown", number=number)
        return "undo: nothing"
    if post.status in (PostStatus.deleting.value, PostStatus.deleted.value):
        await ctx.reply("undo_already", number=post.number)
        return f"undo: #{post.number} already removed"
    if post.status in (PostStatus.scheduled.value, PostStatus.cancelled.value):
        return await ctx.handle(p.Unschedule(post.number))  # ANNULER 14 on a scheduled post: ANNULER P14
    await post_service.remove(
        ctx.s,
        post=post,
        actor=f"member:{ctx.member.id}",
        notify_member_id=ctx.member.id,
        receipt_deadline=ctx.rt.settings.receipt_deadline_seconds,
        channel=ctx.source,
    )
    ctx.replied = True  # the undo receipt job is this command's one answer
    return f"undo: #{post.number}"


async def status(ctx: Ctx, cmd: p.Status) -> str:
    accts = list(
        (
            await ctx.s.execute(
                select(NetworkAccount)
                .where(
                    col(NetworkAccount.business_id) == ctx.biz.id,
                    col(NetworkAccount.status) != AccountStatus.disabled.value,
                )
                .order_by(col(NetworkAccount.id))
            )
        ).scalars()
    )
    parts = []
    for a in accts:
        st = "acct_ok" if a.status == AccountStatus.active.value else "acct_broken"
        parts.append(f"{label(a.network)} {t(st, ctx.lang)}")
    going = list(
        (
            await ctx.s.execute(
                select(col(Post.number))
                .where(
                    col(Post.business_id) == ctx.biz.id,
                    col(Post.status) == PostStatus.publishing.value,
                    col(Post.number) > 0,  # answers to mentions have their own receipts and no post number
                )
                .order_by(col(Post.number))
                .limit(5)
            )
        ).scalars()
    )
    pending_posts = t("status_pending", ctx.lang, posts=", ".join(f"#{n}" for n in going)) if going else ""
    await ctx.reply("status", accounts=", ".join(parts), pending=pending_posts)
    return "status"
