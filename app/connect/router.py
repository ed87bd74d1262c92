"""``/connect/{network}``: the OAuth linking pages the owner's browser goes through, and the admin route that
makes the start link (``POST /api/v1/businesses/{id}/accounts/connect-link``)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse

from app.audit import service as audit
from app.connect import service as connect_service
from app.connect.schemas import ConnectLinkCreate, ConnectLinkRead
from app.deps import BusinessDep, PrincipalDep, RuntimeDep, SessionDep
from app.errors import Unprocessable

router = APIRouter(tags=["connect"])

_TEXT = {
    "fr": {
        "linked": "{label} est relié : {handle}. Vous pouvez fermer cette page.",
        "choose": "Quel compte {label} Ardoise doit-il utiliser ?",
        "button": "Choisir",
        "title": "Relier {label}",
        "cancelled": "Connexion à {label} annulée : rien n'a été relié.",
    },
    "en": {
        "linked": "{label} is linked: {handle}. You can close this page.",
        "choose": "Which {label} account should Ardoise use?",
        "button": "Choose",
        "title": "Link {label}",
        "cancelled": "{label} sign-in cancelled: nothing was linked.",
    },
}


def _page(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    doc = (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title></head>"
        f'<body style="font-family:sans-serif;max-width:32em;margin:2em auto;padding:0 1em">{body}</body></html>'
    )
    return HTMLResponse(
        doc, status_code=status, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )


def _error(exc: connect_service.ConnectError, network: str) -> HTMLResponse:
    label = connect_service.LABELS.get(network, network)
    return _page(label, f"<h1>{escape(label)}</h1><p>{escape(exc.reason)}</p>", status=exc.status)


def _text(lang: str, key: str, **values: str) -> str:
    return _TEXT.get(lang, _TEXT["en"])[key].format(**values)


def _outcome(result: connect_service.Linked | connect_service.Choice) -> HTMLResponse:
    label = connect_service.LABELS[result.network]
    if isinstance(result, connect_service.Linked):
        message = _text(result.language, "linked", label=label, handle=result.handle)
        return _page(label, f"<h1>{escape(label)}</h1><p>{escape(message)}</p>")
    buttons = "".join(
        f'<p><button name="option" value="{escape(key)}">{escape(text)}</button></p>' for key, text in result.options
    )
    form = (
        f'<form method="post" action="/connect/{escape(result.network)}/choose">'
        f'<input type="hidden" name="choice" value="{escape(result.choice)}">{buttons}</form>'
    )
    title = _text(result.language, "title", label=label)
    return _page(title, f"<h1>{escape(title)}</h1><p>{escape(_text(result.language, 'choose', label=label))}</p>{form}")


def _known(network: str) -> None:
    if network not in connect_service.PROVIDERS:
        raise connect_service.ConnectError(
            f"unknown network {network!r}; OAuth linking exists for {', '.join(connect_service.NETWORKS)}", status=404
        )


@router.get("/connect/{network}", response_model=None, include_in_schema=False)
async def start(
    network: str,
    rt: RuntimeDep,
    business: Annotated[str, Query(max_length=64)] = "",
    token: Annotated[str, Query(max_length=200)] = "",
) -> RedirectResponse | HTMLResponse:
    """Check the start link and send the browser to the network's consent page (302)."""
    try:
        _known(network)
        async with rt.db.read() as session:
            biz = await connect_service.find_business(session, business)
        if biz is None:
            raise connect_service.ConnectError("this link is not valid / ce lien n'est pas valide", status=404)
        url = await connect_service.begin(rt, business=biz, network=network, token=token)
    except connect_service.ConnectError as exc:
        return _error(exc, network)
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


@router.get("/connect/{network}/callback", response_model=None, include_in_schema=False)
async def callback(
    network: str,
    rt: RuntimeDep,
    code: Annotated[str, Query(max_length=2000)] = "",
    state: Annotated[str, Query(max_length=200)] = "",
    error: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """Where the network sends the browser back: finish the flow and say what was linked (or why not)."""
    try:
        _known(network)
        if error:
            # The owner said no (error=access_denied): still burn the state so it cannot be used later.
            if state:
                await connect_service.consume(rt, network=network, state=state, kind="authorize")
            label = connect_service.LABELS[network]
            raise connect_service.ConnectError(
                f"{_text('fr', 'cancelled', label=label)} / {_text('en', 'cancelled', label=label)}"
            )
        if not code or not state:
            raise connect_service.ConnectError("the network sent back no code / aucun code reçu")
        result = await connect_service.finish(rt, network=network, code=code, state=state)
    except connect_service.ConnectError as exc:
        return _error(exc, network)
    return _outcome(result)


@router.post("/connect/{network}/choose", response_model=None, include_in_schema=False)
async def choose(
    network: str,
    rt: RuntimeDep,
    choice: Annotated[str, Form(max_length=200)],
    option: Annotated[str, Form(max_length=200)],
) -> HTMLResponse:
    """The owner picked one Page / location among several."""
    try:
        _known(network)
        result = await connect_service.choose(rt, network=network, choice=choice, key=option)
    except connect_service.ConnectError as exc:
        return _error(exc, network)
    return _outcome(result)


@router.post(
    "/api/v1/businesses/{business_id}/accounts/connect-link",
    response_model=ConnectLinkRead,
    tags=["accounts"],
)
async def connect_link(
    body: ConnectLinkCreate, biz: BusinessDep, who: PrincipalDep, rt: RuntimeDep, session: SessionDep
) -> ConnectLinkRead:
    """A signed, expiring link that starts OAuth linking of ``network`` for this business (send it to the owner)."""
    provider = connect_service.PROVIDERS[body.network]
    if not connect_service.configured(rt, body.network):
        raise Unprocessable(
            f"{body.network} linking is not configured: set ARDOISE_{provider.client_settings[0].upper()} "
            f"and ARDOISE_{provider.client_settings[1].upper()}"
        )
    url, expires = connect_service.start_link(rt, business=biz, network=body.network)
    await audit.record(
        session, actor=who.actor, action="account.connect_link", business_id=biz.id, target=f"network:{body.network}"
    )
    return ConnectLinkRead(url=url, network=body.network, expires_at=datetime.fromtimestamp(expires, UTC))
