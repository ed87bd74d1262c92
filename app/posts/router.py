from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlmodel import col

from app.deps import BusinessDep, Id, PageDep, PrincipalDep, RuntimeDep, SessionDep
from app.errors import Conflict, NotFound, Unprocessable
from app.models import Business, NetworkAccount, Post, PostStatus
from app.posts import service as post_service
from app.posts.schemas import (
    NetworkPreview,
    PostCreate,
    PostList,
    PostRead,
    PreviewRequest,
    PreviewResponse,
    to_read,
)
from app.schemas_base import DB_INT_MAX

router = APIRouter(prefix="/api/v1/businesses/{business_id}/posts", tags=["posts"])


@router.post("", status_code=202, response_model=PostRead)
async def create_post(
    body: PostCreate, biz: BusinessDep, session: SessionDep, who: PrincipalDep, rt: RuntimeDep
) -> PostRead:
    text = body.text.strip()
    if not text and not body.media_urls:
        raise Unprocessable("a post needs text or at least one image")
    media = [{"source_url": str(u)} for u in body.media_urls]
    post, ds = await post_service.create(
        session,
        biz=biz,
        text=text,
        media=media,
        source="api",
        actor=who.actor,
        receipt_deadline=rt.settings.receipt_deadline_seconds,
        public_url=rt.settings.public_url,
    )
    return to_read(post, ds, biz, rt.settings.public_url)


@router.get("", response_model=PostList)
async def list_posts(
    biz: BusinessDep,
    session: SessionDep,
    rt: RuntimeDep,
    page: PageDep,
    number: Annotated[
        int | None,
        Query(ge=1, le=DB_INT_MAX, description="only the post the owner knows as #number (ids and numbers differ)"),
    ] = None,
    state: Annotated[
        PostStatus | None, Query(description="only posts in this state, e.g. `scheduled` (waiting for their time)")
    ] = None,
) -> PostList:
    """Newest first. ``/posts/{post_id}`` takes the ``id``; the ``number`` is what owners see (``#12``)."""
    assert biz.id is not None
    rows = await post_service.list_with_deliveries(
        session,
        business_id=biz.id,
        limit=page.limit,
        before_id=page.before_id,
        number=number,
        state=state.value if state is not None else None,
    )
    items = [to_read(p, ds, biz, rt.settings.public_url) for p, ds in rows]
    last = rows[-1][0].id if rows else None
    return PostList(items=items, next_cursor=page.next_cursor(last, len(rows), page.limit))


async def _post(session: SessionDep, biz: Business, post_id: Id) -> Post:
    post = await session.get(Post, post_id)
    if post is None or post.business_id != biz.id:
        raise NotFound(f"no post {post_id} in business {biz.id}")
    return post


@router.post("/preview", response_model=PreviewResponse)
async def preview_post(body: PreviewRequest, biz: BusinessDep, session: SessionDep, rt: RuntimeDep) -> PreviewResponse:
    """The text each linked network would get (adapted to its limit, never silently cut). Nothing is posted."""
    from app.accounts.credentials import credentials
    from app.networks.base import MediaItem
    from app.networks.base import Post as NetPost
    from app.posts.preview import preview

    accounts = (
        await session.execute(
            select(NetworkAccount)
            .where(col(NetworkAccount.business_id) == biz.id, col(NetworkAccount.status) != "disabled")
            .order_by(col(NetworkAccount.id))
        )
    ).scalars()
    link = post_service.permalink(rt.settings.public_url, biz, biz.post_seq + 1)
    media = [MediaItem(path="", url="", content_type="image/jpeg")] * body.media_count
    items = []
    for acct in accounts:
        net = rt.networks.get(acct.network)
        if net is None or acct.id is None:
            continue
        npost = NetPost(text=body.text.strip(), idempotency_key="preview", media=media, link=link)
        text, problem = preview(net, npost, credentials(rt, acct, biz))
        items.append(
            NetworkPreview(
                account_id=acct.id,
                network=acct.network,
                text=text,
                length=net.measure(text),
                limit=net.max_chars,
                adapted=text != npost.text,
                problem=problem,
            )
        )
    return PreviewResponse(items=items)


@router.get("/{post_id}", response_model=PostRead)
async def get_post(post_id: Id, biz: BusinessDep, session: SessionDep, rt: RuntimeDep) -> PostRead:
    post = await _post(session, biz, post_id)
    assert post.id is not None
    return to_read(post, await post_service.deliveries_of(session, post.id), biz, rt.settings.public_url)


@router.delete("/{post_id}", status_code=202, response_model=PostRead)
async def delete_post(
    post_id: Id, biz: BusinessDep, session: SessionDep, who: PrincipalDep, rt: RuntimeDep
) -> PostRead:
    """Remove the post from every network it reached. 202: removal goes on in the background. A scheduled post is
    cancelled instead (state ``cancelled``: it will never go out)."""
    post = await _post(session, biz, post_id)
    if post.status in (PostStatus.deleting.value, PostStatus.deleted.value):
        raise Conflict(f"post {post_id} is already being removed")
    if post.status == PostStatus.cancelled.value:
        raise Conflict(f"post {post_id} is already cancelled")
    if post.status == PostStatus.scheduled.value:
        from app.scheduling import service as schedule_service

        await schedule_service.cancel(session, post=post, actor=who.actor)
        return to_read(post, [], biz, rt.settings.public_url)
    ds = await post_service.remove(session, post=post, actor=who.actor)
    return to_read(post, ds, biz, rt.settings.public_url)
