from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.urls import path

from forums import selectors


async def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "healthy", "async": True})


async def categories(request: HttpRequest) -> JsonResponse:
    """The authread baseline: the project's query in the same one hop, the same bytes as the
    API's CategoryOut list, no auth, no ninja, no pydantic."""
    found = await sync_to_async(selectors.list_categories)()
    rows = [
        {
            "id": category.pk,
            "name": category.name,
            "slug": category.slug,
            "description": category.description,
            "topic_count": category.topic_count,
            "post_count": category.post_count,
        }
        for category in found
    ]
    return JsonResponse(rows, safe=False, content_type="application/json; charset=utf-8")


urlpatterns = [
    path("health", health, name="health"),
    path("api/v1/forums/categories", categories, name="categories"),
]
