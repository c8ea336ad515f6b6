from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.SignupView.as_view(), name="signup"),
    path("verify/", views.VerifyEmailView.as_view(), name="verify-email"),
    path("verify/resend/", views.ResendCodeView.as_view(), name="resend-code"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password-reset"),
    path(
        "password-reset/sent/",
        views.PasswordResetSentView.as_view(),
        name="password-reset-sent",
    ),
    path(
        "reset/<str:uidb64>/<str:token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path(
        "invitations/<str:token>/",
        views.InvitationAcceptView.as_view(),
        name="invitation-accept",
    ),
    path("profile/", views.ProfileView.as_view(), name="profile"),
    path("people/", views.DirectoryView.as_view(), name="directory"),
    path("people/<int:person_id>/", views.PersonDetailView.as_view(), name="person-detail"),
    path("settings/", views.SettingsView.as_view(), name="settings"),
    path("settings/profile/", views.ProfileUpdateView.as_view(), name="profile-update"),
    path("settings/avatar/", views.AvatarUploadView.as_view(), name="avatar-upload"),
    path("settings/password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("settings/tokens/", views.ApiTokenCreateView.as_view(), name="api-token-create"),
    path(
        "settings/tokens/<int:token_id>/revoke/",
        views.ApiTokenRevokeView.as_view(),
        name="api-token-revoke",
    ),
    path("organization/", views.OrganizationView.as_view(), name="organization"),
    path(
        "organization/edit/",
        views.OrganizationUpdateView.as_view(),
        name="organization-update",
    ),
    path("organization/logo/", views.LogoUploadView.as_view(), name="logo-upload"),
    path(
        "organization/members/<int:member_id>/",
        views.MemberUpdateView.as_view(),
        name="member-update",
    ),
    path(
        "organization/invitations/",
        views.InvitationCreateView.as_view(),
        name="invitation-create",
    ),
    path(
        "organization/invitations/<int:invitation_id>/resend/",
        views.InvitationResendView.as_view(),
        name="invitation-resend",
    ),
    path(
        "organization/invitations/<int:invitation_id>/cancel/",
        views.InvitationCancelView.as_view(),
        name="invitation-cancel",
    ),
]
