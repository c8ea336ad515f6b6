from asgiref.sync import sync_to_async
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, alogin, alogout
from django.http import HttpRequest, HttpResponse
from ninja import File, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from accounts import selectors, services
from accounts.authentication import api_auth, unverified_api_auth
from accounts.devices import read_device_cookie, remember_device
from accounts.models import Invitation, Organization, User
from accounts.schemas import (
    AcceptedOut,
    AcceptInvitationIn,
    ApiTokenCreatedOut,
    ApiTokenIn,
    ApiTokenOut,
    AuthOut,
    EmailIn,
    InvitationIn,
    InvitationOut,
    InvitationPreviewOut,
    LoginIn,
    MemberPatch,
    OrganizationOut,
    OrganizationPatch,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PersonOut,
    ProfilePatch,
    SignupIn,
    SignupOut,
    UserOut,
    VerifyEmailIn,
)
from p2p_sandbox.crosssite import check_json_request
from p2p_sandbox.errors import NotFoundError
from p2p_sandbox.schemas import ObjectId

auth_router = Router(tags=["auth"])
users_router = Router(tags=["users"], auth=api_auth)
organizations_router = Router(tags=["organizations"], auth=api_auth)


async def aget_user(user_id: int) -> User:
    return await User.objects.select_related("organization").aget(pk=user_id)


async def aget_organization_of(user: User) -> Organization:
    organization = await selectors.aget_own_organization(user)
    if organization is None:
        raise NotFoundError
    return organization


# Auth: the anonymous writes refuse requests a browser sends from another site (login CSRF).


@auth_router.post("/signup", response={201: SignupOut})
async def signup(request: HttpRequest, payload: SignupIn) -> Status:
    check_json_request(request)
    user = await sync_to_async(services.sign_up)(**payload.model_dump())
    user = await aget_user(user.pk)
    return Status(201, {"user": user, "organization": user.organization})


@auth_router.post("/verify-email", response=AuthOut)
async def verify_email(request: HttpRequest, payload: VerifyEmailIn) -> dict:
    check_json_request(request)
    user = await sync_to_async(services.verify_email)(email=payload.email, code=payload.code)
    return {"user": await aget_user(user.pk)}


@auth_router.post("/resend-code", response={202: AcceptedOut})
async def resend_code(request: HttpRequest, payload: EmailIn) -> Status:
    check_json_request(request)
    await sync_to_async(services.resend_verification_code)(email=payload.email)
    return Status(
        202, {"detail": "If this address waits for verification, a new code is on its way."}
    )


@auth_router.post("/login", response=AuthOut)
async def login(request: HttpRequest, payload: LoginIn, response: HttpResponse) -> dict:
    check_json_request(request)
    device = read_device_cookie(request)
    user = await services.aauthenticate_credentials(
        email=payload.email, password=payload.password, device=device
    )
    await alogin(request, user)
    remember_device(response, user_id=user.pk, device=device)
    return {"user": await aget_user(user.pk)}


@auth_router.post("/logout", response={204: None}, auth=unverified_api_auth)
async def logout(request: HttpRequest) -> Status:
    await sync_to_async(services.sign_out_everywhere)(actor=request.auth)
    await alogout(request)
    return Status(204, None)


@auth_router.post("/password-reset", response={202: AcceptedOut})
async def password_reset(request: HttpRequest, payload: EmailIn) -> Status:
    check_json_request(request)
    await sync_to_async(services.request_password_reset)(email=payload.email)
    return Status(202, {"detail": "If an account has this address, a reset link is on its way."})


@auth_router.post("/password-reset/confirm", response=AuthOut)
async def password_reset_confirm(request: HttpRequest, payload: PasswordResetConfirmIn) -> dict:
    check_json_request(request)
    user = await sync_to_async(services.reset_password)(
        uid=payload.uid, token=payload.token, new_password=payload.new_password
    )
    return {"user": await aget_user(user.pk)}


@auth_router.get("/invitations/{token}", response=InvitationPreviewOut)
async def preview_invitation(request: HttpRequest, token: str) -> Invitation:
    return await sync_to_async(services.get_invitation_by_token)(token)


@auth_router.post("/accept-invitation", response={201: AuthOut})
async def accept_invitation(request: HttpRequest, payload: AcceptInvitationIn) -> Status:
    check_json_request(request)
    user = await sync_to_async(services.accept_invitation)(**payload.model_dump())
    return Status(201, {"user": await aget_user(user.pk)})


# Users


class DirectoryFilters(Schema):
    search: str = ""
    organization: str = ""
    expertise: str = ""
    city: str = ""


@users_router.get("/me", response=UserOut, auth=unverified_api_auth)
async def get_me(request: HttpRequest) -> User:
    return await aget_user(request.auth.pk)


@users_router.patch("/me", response=UserOut)
async def update_me(request: HttpRequest, payload: ProfilePatch) -> User:
    fields = payload.model_dump(exclude_unset=True)
    if "expertise_tags" in fields:
        fields["expertise_tags"] = services.clean_tags(fields["expertise_tags"], limit=10)
    user = await sync_to_async(services.update_profile)(actor=request.auth, fields=fields)
    return await aget_user(user.pk)


@users_router.post("/me/avatar", response={202: UserOut})
async def upload_avatar(request: HttpRequest, file: File[UploadedFile]) -> Status:
    await sync_to_async(services.upload_avatar)(actor=request.auth, upload=file)
    return Status(202, await aget_user(request.auth.pk))


@users_router.post("/me/password", response={204: None})
async def change_password(request: HttpRequest, payload: PasswordChangeIn) -> Status:
    def change_and_keep_this_session() -> None:
        user = services.change_password(
            actor=request.auth,
            current_password=payload.current_password,
            new_password=payload.new_password,
        )
        if SESSION_KEY in request.session:  # a token caller has no session to keep
            # Not update_session_auth_hash: it resolves request.user, which would check the
            # session against the new password and end it.
            request.session.cycle_key()
            request.session[HASH_SESSION_KEY] = user.get_session_auth_hash()

    await sync_to_async(change_and_keep_this_session)()
    return Status(204, None)


@users_router.get("/me/tokens", response=list[ApiTokenOut])
async def list_tokens(request: HttpRequest) -> list:
    return [token async for token in selectors.list_api_tokens(request.auth)]


@users_router.post("/me/tokens", response={201: ApiTokenCreatedOut})
async def create_token(request: HttpRequest, payload: ApiTokenIn) -> Status:
    token, raw = await sync_to_async(services.create_api_token)(
        actor=request.auth, name=payload.name
    )
    return Status(201, {**ApiTokenOut.from_orm(token).model_dump(), "token": raw})


@users_router.delete("/me/tokens/{token_id}", response={204: None})
async def revoke_token(request: HttpRequest, token_id: ObjectId) -> Status:
    await sync_to_async(services.revoke_api_token)(actor=request.auth, token_id=token_id)
    return Status(204, None)


@users_router.get("", response=list[PersonOut])
@paginate
async def list_people(request: HttpRequest, filters: Query[DirectoryFilters]) -> object:
    return selectors.list_directory(**filters.model_dump())


@users_router.get("/{user_id}", response=PersonOut)
async def get_person(request: HttpRequest, user_id: ObjectId) -> User:
    person = await selectors.aget_directory_person(user_id)
    if person is None:
        raise NotFoundError
    return person


# Organizations


@organizations_router.get("/me", response=OrganizationOut)
async def get_my_organization(request: HttpRequest) -> Organization:
    return await aget_organization_of(request.auth)


@organizations_router.patch("/me", response=OrganizationOut)
async def update_my_organization(request: HttpRequest, payload: OrganizationPatch) -> Organization:
    return await sync_to_async(services.update_organization)(
        actor=request.auth, fields=payload.model_dump(exclude_unset=True)
    )


@organizations_router.post("/me/logo", response={202: OrganizationOut})
async def upload_logo(request: HttpRequest, file: File[UploadedFile]) -> Status:
    organization = await sync_to_async(services.upload_logo)(actor=request.auth, upload=file)
    return Status(202, organization)


@organizations_router.get("/members", response=list[UserOut])
@paginate
async def list_members(request: HttpRequest) -> object:
    """Colleagues see each other; admins also see deactivated members."""
    actor: User = request.auth
    organization = await aget_organization_of(actor)
    return selectors.list_members(organization, include_inactive=actor.is_organization_admin)


@organizations_router.patch("/members/{member_id}", response=UserOut)
async def update_member(request: HttpRequest, member_id: ObjectId, payload: MemberPatch) -> User:
    member = await sync_to_async(services.change_member)(
        actor=request.auth, member_id=member_id, **payload.model_dump(exclude_unset=True)
    )
    return await aget_user(member.pk)


@organizations_router.get("/invitations", response=list[InvitationOut])
@paginate
async def list_invitations(request: HttpRequest) -> object:
    organization = await sync_to_async(services.check_organization_admin)(request.auth)
    return selectors.list_open_invitations(organization)


@organizations_router.post("/invitations", response={201: InvitationOut})
async def create_invitation(request: HttpRequest, payload: InvitationIn) -> Status:
    invitation = await sync_to_async(services.invite_member)(
        actor=request.auth, email=payload.email, role=payload.role
    )
    return Status(201, invitation)


@organizations_router.post("/invitations/{invitation_id}/resend", response={202: InvitationOut})
async def resend_invitation(request: HttpRequest, invitation_id: ObjectId) -> Status:
    invitation = await sync_to_async(services.resend_invitation)(
        actor=request.auth, invitation_id=invitation_id
    )
    return Status(202, invitation)


@organizations_router.delete("/invitations/{invitation_id}", response={204: None})
async def cancel_invitation(request: HttpRequest, invitation_id: ObjectId) -> Status:
    await sync_to_async(services.cancel_invitation)(actor=request.auth, invitation_id=invitation_id)
    return Status(204, None)
