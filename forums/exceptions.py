from http import HTTPStatus

from forums.models import (
    MAX_CONTENT_LENGTH,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_TITLE_LENGTH,
    MIN_TITLE_LENGTH,
)
from p2p_sandbox.errors import AppError, ConflictError, NotFoundError, PermissionDeniedError


class TopicNotFoundError(NotFoundError):
    code = "topic_not_found"
    message = "This topic does not exist or you cannot see it."


class PostNotFoundError(NotFoundError):
    code = "post_not_found"
    message = "This post does not exist or you cannot see it."


class UnknownCategoryError(AppError):
    code = "unknown_category"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    message = "There is no such category."


class TopicLockedError(ConflictError):
    code = "topic_locked"
    message = "This topic is locked: it accepts no new posts."


class NotAllowedError(PermissionDeniedError):
    code = "not_allowed"
    message = "You are not allowed to do this."


class InvalidContentError(AppError):
    code = "invalid_content"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    message = f"A post has 1 to {MAX_CONTENT_LENGTH} characters."


class InvalidTitleError(AppError):
    code = "invalid_title"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    message = f"A title has {MIN_TITLE_LENGTH} to {MAX_TITLE_LENGTH} characters."


class InvalidTagsError(AppError):
    code = "invalid_tags"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    message = (
        f"Use at most {MAX_TAGS} tags, each of 1 to {MAX_TAG_LENGTH} letters, digits, "
        "hyphens or spaces."
    )


class InvalidReplyToError(AppError):
    code = "invalid_reply_to"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    message = "You can only reply to a post of this topic that is not deleted."


class NotAPostOfTopicError(AppError):
    code = "invalid_best_answer"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    message = "The best answer must be a post of this topic that is not deleted."


class InvalidFilterError(AppError):
    code = "invalid_filter"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    message = "Filter topics by recent, unanswered, solved, following or bookmarked."


class InvalidSubscriptionLevelError(AppError):
    code = "invalid_subscription"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    message = "Follow, mute, or neither (null)."
