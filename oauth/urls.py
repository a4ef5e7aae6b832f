"""The authorization server under /o/ (DOT's endpoints: authorize, token, revoke, introspect;
OIDC discovery, JWKS, userinfo, RP-initiated logout) and our pages (login, signup, consent).

Not routed: DOT's device flow, its application-management pages (apps are managed through
/api/organization/apps and the admin) and dynamic client registration.
"""

from django.urls import path, re_path
from oauth2_provider import views as dot

from oauth import sso_views, views

app_name = "oauth2_provider"  # DOT reverses its own views in this namespace

urlpatterns = [
    path("login", views.LoginView.as_view(), name="login"),
    path("signup", views.SignupView.as_view(), name="signup"),
    path("sso/login", sso_views.SsoLoginView.as_view(), name="sso-login"),
    path("sso/callback", sso_views.SsoCallbackView.as_view(), name="sso-callback"),
    path("authorize/", views.AuthorizeView.as_view(), name="authorize"),
    path("token/", dot.TokenView.as_view(), name="token"),
    path("revoke_token/", dot.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", dot.IntrospectTokenView.as_view(), name="introspect"),
    re_path(
        r"^\.well-known/openid-configuration/?$",
        dot.ConnectDiscoveryInfoView.as_view(),
        name="oidc-connect-discovery-info",
    ),
    path(".well-known/jwks.json", dot.JwksInfoView.as_view(), name="jwks-info"),
    path("userinfo/", dot.UserInfoView.as_view(), name="user-info"),
    path("logout/", dot.RPInitiatedLogoutView.as_view(), name="rp-initiated-logout"),
]

# At the origin's root: OpenID discovery (the issuer is the public origin) and RFC 8414 metadata.
well_known_urlpatterns = [
    re_path(r"^openid-configuration/?$", dot.ConnectDiscoveryInfoView.as_view(), name="oidc-discovery-root"),
    path("oauth-authorization-server", dot.OAuthServerMetadataView.as_view(), name="oauth-server-metadata"),
]
