"""Log in and out of the dashboard with the owner's email and password.

The form calls the same OperatorAccounts.login as POST /v1/admin/login, so its
throttle (issue 5), auth_failure records and user_login audit apply unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.enums import MediaType, RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from domain.errors import AuthenticationFailed, InvalidInput, TooManyAttempts
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest, client_ip
from interfaces.web.session import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    LoginRequired,
    check_csrf,
    cookie,
    gone,
    login_token,
    provide_viewer,
)

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _login_page(services: Services, error: str = "", email: str = "", status: int = 200) -> Any:
    token = login_token()
    return Template(
        template_name="login.html",
        context={"csrf": token, "error": error, "email": email},
        status_code=status,
        media_type=MediaType.HTML,
        cookies=[cookie(LOGIN_COOKIE, token, services, max_age=3600)],
    )


class LoginController(Controller):
    path = "/"
    include_in_schema = False

    @get("/login", sync_to_thread=True)
    def login_form(self, request: AnyRequest, services: Services) -> Any:
        try:
            provide_viewer(request, services)
        except LoginRequired:
            return _login_page(services)
        return Redirect("/", status_code=303)

    @post("/login", sync_to_thread=True)
    def login(self, data: Form, request: AnyRequest, services: Services) -> Any:
        check_csrf(request.cookies.get(LOGIN_COOKIE, ""), data)
        email = str(data.get("email", ""))[:320]
        password = str(data.get("password", ""))
        try:
            token, record = services.accounts.open_dashboard(email, password, client_ip(request))
        except TooManyAttempts as throttled:
            return _login_page(services, str(throttled), email, status=429)
        except (AuthenticationFailed, InvalidInput) as refused:
            return _login_page(services, str(refused), email, status=401)
        services.projector.catch_up()
        seconds = max(1, (record.expires_ms - services.clock.now_ms()) // 1000)
        return Redirect(
            "/",
            status_code=303,
            cookies=[
                cookie(SESSION_COOKIE, token, services, max_age=seconds),
                gone(LOGIN_COOKIE, services),
            ],
        )

    @post("/logout", sync_to_thread=True)
    def logout(self, data: Form, request: AnyRequest, services: Services) -> Any:
        viewer = provide_viewer(request, services)
        check_csrf(viewer.csrf, data)
        services.accounts.logout(viewer.session, client_ip(request))
        services.projector.catch_up()
        return Redirect("/login", status_code=303, cookies=[gone(SESSION_COOKIE, services)])

    @post("/logout-everywhere", sync_to_thread=True)
    def logout_everywhere(self, data: Form, request: AnyRequest, services: Services) -> Any:
        """Every session of this operator ends, in every API process: other browsers
        land on the login page at their next request, the CLI must log in again."""
        viewer = provide_viewer(request, services)
        check_csrf(viewer.csrf, data)
        services.accounts.logout_everywhere(viewer.session, client_ip(request))
        services.projector.catch_up()
        return Redirect("/login", status_code=303, cookies=[gone(SESSION_COOKIE, services)])
