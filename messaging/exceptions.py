from http import HTTPStatus

from p2p_sandbox.errors import AppError, ConflictError, NotFoundError, PermissionDeniedError


class ConversationNotFoundError(NotFoundError):
    code = "conversation_not_found"
    message = "This conversation does not exist or you are not in it."


class MessageNotFoundError(NotFoundError):
    code = "message_not_found"
    message = "This message does not exist or you cannot see it."


class RecipientNotFoundError(NotFoundError):
    code = "recipient_not_found"
    message = "This person does not exist."


class RecipientInactiveError(PermissionDeniedError):
    code = "recipient_inactive"
    message = "This person's account is deactivated; they cannot receive messages."


class BlockedError(PermissionDeniedError):
    code = "blocked"
    message = "You cannot message this person."


class YouBlockedError(PermissionDeniedError):
    code = "you_blocked"
    message = "You blocked this person. Unblock them to send a message."


class SelfMessageError(AppError):
    code = "self_message"
    message = "You cannot start a conversation with yourself."


class NotMessageSenderError(PermissionDeniedError):
    code = "not_message_sender"
    message = "Only the sender can change this message."


class MessageDeletedError(ConflictError):
    code = "message_deleted"
    message = "This message was deleted."


class TooManyParticipantsError(AppError):
    code = "too_many_participants"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    message = "A group conversation has at most 10 participants."


class ClientMessageIdReusedError(ConflictError):
    code = "client_msg_id_reused"
    message = "This client_msg_id was already used for a message in another conversation."


class SelfBlockError(AppError):
    code = "self_block"
    message = "You cannot block yourself."


class UnknownNotificationTypeError(AppError):
    code = "unknown_notification_type"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    message = "There is no notification of this type."


class InvalidUnsubscribeTokenError(AppError):
    code = "invalid_unsubscribe_token"
    message = "This unsubscribe link is not valid."
