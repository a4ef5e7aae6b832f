"""The authorization server's pages (Django-rendered, under /o/): log in, sign up, consent.

They apply the same account rules as the REST API (`accounts.user_services`): throttled log-in,
sign-up with verification and allowed domains, pending approval.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.models import get_application_model
from oauth2_provider.scopes import get_scopes_backend
from oauth2_provider.views import AuthorizationView
from oauthlib.oauth2.rfc6749.errors import CustomOAuth2Error

from accounts import user_services
from llmaas.errors import ApplicationError
from oauth import inference_keys
from oauth.forms import ConsentForm
from oauth.validator import KEY_REQUEST_CREDENTIAL

MAX_PASSWORD = 4096


class LoginForm(forms.Form):
    email = forms.EmailField(max_length=254)
    password = forms.CharField(max_length=MAX_PASSWORD, strip=False, widget=forms.PasswordInput)


class SignupForm(forms.Form):
    name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(max_length=254)
    password = forms.CharField(max_length=MAX_PASSWORD, strip=False, widget=forms.PasswordInput)


def _next_url(request: HttpRequest) -> str:
    """Where to go after logging in: a local URL only (never an open redirect)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return target
    return settings.LOGIN_REDIRECT_URL


def _sso_context() -> dict[str, Any]:
    """The login page's "Log in with <provider>" link (oauth/sso.py), when SSO is set up."""
    return {"sso_enabled": bool(settings.SSO_ISSUER), "sso_name": settings.SSO_NAME}


class LoginView(View):
    template = "oauth/login.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template, {"form": LoginForm(), "next": _next_url(request), **_sso_context()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = LoginForm(request.POST)
        context: dict[str, Any] = {"form": form, "next": _next_url(request), **_sso_context()}
        if not form.is_valid():
            return render(request, self.template, context, status=400)
        try:
            user_services.user_log_in(request=request, **form.cleaned_data)
        except ApplicationError as exc:
            context["error"] = exc.message
            response = render(request, self.template, context, status=exc.status_code)
            for name, value in exc.headers.items():
                response[name] = value
            return response
        return HttpResponseRedirect(context["next"])


class SignupView(View):
    template = "oauth/signup.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template, {"form": SignupForm(), "next": _next_url(request)})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = SignupForm(request.POST)
        context: dict[str, Any] = {"form": form, "next": _next_url(request)}
        if not form.is_valid():
            return render(request, self.template, context, status=400)
        try:
            user_services.user_sign_up(**form.cleaned_data)
        except ApplicationError as exc:
            context["error"] = exc.message
            if isinstance(exc.details, dict):
                context["problems"] = [
                    str(p) for v in exc.details.values() for p in (v if isinstance(v, list) else [v])
                ]
            return render(request, self.template, context, status=exc.status_code)
        context["done"] = True
        return render(request, self.template, context, status=202)


class _ConsentRequired(Exception):
    """An app that may skip the consent page asked for ``inference``: the user must choose."""


class AuthorizeView(AuthorizationView):
    """DOT's authorization endpoint with our consent page, and PKCE with S256 only (a ``plain``
    or missing challenge method is refused before the user is asked anything).

    An app asking for the ``inference`` scope always gets the consent page (even a first-party app
    that skips it otherwise): the user picks the organization, models and budget of the key the
    app will receive with its tokens (oauth/inference_keys.py); the form checks them on the
    server and the validator stores them with the authorization code."""

    template_name = "oauth/authorize.html"
    form_class = ConsentForm
    key_request: inference_keys.KeyRequestChoice | None = None

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "user": self.request.user}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = context["form"]
        if inference_keys.asks_for_inference(context.get("scopes") or []):
            context["asks_inference"] = True
            context["key_options"] = form.options
            context["can_issue_key"] = any(option.refusal is None for option in form.options)
            context["max_budget_usd"] = inference_keys.MAX_BUDGET_USD
        return context

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().get(request, *args, **kwargs)
        except _ConsentRequired:
            return self.render_to_response(self.get_context_data(**self.oauth2_data))

    def form_valid(self, form: ConsentForm) -> HttpResponse:
        self.key_request = form.key_request
        return super().form_valid(form)

    def form_invalid(self, form: ConsentForm) -> HttpResponse:
        """The consent page again, with the errors (DOT renders it without the app or scopes)."""
        application = get_application_model().objects.filter(client_id=form.data.get("client_id", "")).first()
        if application is None:
            error = {"error": "invalid_request", "description": "Unknown client."}
            return self.render_to_response({"error": error}, status=400)
        all_scopes = get_scopes_backend().get_all_scopes()
        scopes = [scope for scope in str(form.data.get("scope", "")).split() if scope in all_scopes]
        context = self.get_context_data(
            form=form,
            application=application,
            scopes=scopes,
            scopes_descriptions=[all_scopes[scope] for scope in scopes],
        )
        return self.render_to_response(context, status=400)

    def create_authorization_response(
        self, request: HttpRequest, scopes: str, credentials: dict[str, Any], allow: bool
    ) -> tuple[str, dict[str, str], str, int]:
        if request.method == "GET" and inference_keys.asks_for_inference(scopes):
            raise _ConsentRequired  # DOT's skip_authorization or approval_prompt=auto: ask anyway
        if self.key_request is not None:
            credentials = {**credentials, KEY_REQUEST_CREDENTIAL: self.key_request}
        return super().create_authorization_response(request, scopes, credentials, allow)

    def validate_authorization_request(self, request: HttpRequest) -> tuple[list[str], dict[str, Any]]:
        scopes, credentials = super().validate_authorization_request(request)
        if credentials.get("code_challenge_method") != "S256":
            error = CustomOAuth2Error(
                error="invalid_request",
                description="PKCE is required with code_challenge_method=S256.",
                state=credentials.get("state"),
            )
            raise OAuthToolkitError(error=error, redirect_uri=credentials.get("redirect_uri"))
        return scopes, credentials
