from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.defaults import server_error as html_server_error

from p2p_sandbox.api import error_response


async def home(request: HttpRequest) -> TemplateResponse:
    return TemplateResponse(request, "home.html")


async def api_not_found(request: HttpRequest, path: str) -> HttpResponse:
    """Any /api/ URL no operation matches: the API's JSON 404, in DEBUG too."""
    return error_response(request, status=404, detail="Not found.", code="not_found")


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return error_response(
            request, status=500, detail="Something went wrong on our side.", code="server_error"
        )
    return html_server_error(request)
