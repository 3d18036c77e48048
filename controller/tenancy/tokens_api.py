"""The admin role's API: a tenant's tokens, listed (who holds one, with which role; never a secret)
and created (the plain token answered once). Scoped like every route: to the caller's tenant."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi import Depends
from fastapi import HTTPException
from pydantic import BaseModel
from pydantic import Field

from controller.tenancy.roles import Principal
from controller.web.api import api_principal
from controller.web.context import Dashboard
from controller.web.context import dashboard
from controller.web.views import Problem
from specs.errors import AuthError

router = APIRouter(prefix="/api/v1", tags=["v1"])
REFUSED = {401: {"model": Problem, "description": "no valid token"},
           403: {"model": Problem, "description": "not an admin of this tenant, or a cross-site request"}}


class TokenHolder(BaseModel):
    name: str
    tenant: str
    role: str


class TokenRequest(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    role: Literal["viewer", "operator", "admin"]


class NewToken(TokenHolder):
    token: str  # shown once; only its salted hash is kept


def api_admin(who: Principal = Depends(api_principal)) -> Principal:
    if not who.may("admin"):
        raise HTTPException(403, who.refusal("admin", "managing tokens"))
    return who


@router.get("/tokens", response_model=list[TokenHolder], responses=REFUSED,
            summary="who holds a token of your tenant (admin)")
def list_tokens(who: Principal = Depends(api_admin), board: Dashboard = Depends(dashboard)):
    return [TokenHolder(name=p.name, tenant=p.tenant, role=p.role) for p in board.tokens.holders(board.tenant)]


@router.post("/tokens", response_model=NewToken, status_code=201, responses={
    **REFUSED, 400: {"model": Problem, "description": "not a valid name"}},
             summary="create or replace a token of your tenant, answered once (admin)")
def create_token(wanted: TokenRequest, who: Principal = Depends(api_admin), board: Dashboard = Depends(dashboard)):
    try:
        token = board.tokens.create(wanted.name, tenant=board.tenant, role=wanted.role)
    except AuthError as err:
        raise HTTPException(400, str(err)) from err
    board.store.emit("Token", wanted.name, "TokenCreated",
                     f"{who.signature('api')}: token for {wanted.role} {wanted.name}")
    return NewToken(name=wanted.name, tenant=board.tenant, role=wanted.role, token=token)
