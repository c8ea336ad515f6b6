from django.http import HttpRequest, JsonResponse
from django.urls import path


async def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "healthy", "async": True})


urlpatterns = [path("health", health, name="health")]
