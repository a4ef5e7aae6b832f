from django.urls import path

from accounts import apis

urlpatterns = [
    path("csrf", apis.CsrfApi.as_view(), name="auth-csrf"),
    path("signup", apis.SignupApi.as_view(), name="auth-signup"),
    path("verify-email", apis.VerifyEmailApi.as_view(), name="auth-verify-email"),
    path("verify-email/resend", apis.VerifyEmailResendApi.as_view(), name="auth-verify-email-resend"),
    path("login", apis.LoginApi.as_view(), name="auth-login"),
    path("logout", apis.LogoutApi.as_view(), name="auth-logout"),
    path("me", apis.MeApi.as_view(), name="auth-me"),
    path("password", apis.PasswordChangeApi.as_view(), name="auth-password"),
    path("password-reset", apis.PasswordResetApi.as_view(), name="auth-password-reset"),
    path("password-reset/confirm", apis.PasswordResetConfirmApi.as_view(), name="auth-password-reset-confirm"),
]
