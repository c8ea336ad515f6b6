from http import HTTPStatus

from p2p_sandbox.errors import AppError, ConflictError, NotFoundError, PermissionDeniedError


class UseCaseNotFoundError(NotFoundError):
    code = "use_case_not_found"
    message = "This use case does not exist or you cannot see it."


class NoOrganizationError(PermissionDeniedError):
    code = "no_organization"
    message = "Only members of an organization can write use cases."


class NotUseCaseEditorError(PermissionDeniedError):
    code = "not_use_case_editor"
    message = "Only the author and their organization's admins can change this use case."


class NotReviewerError(PermissionDeniedError):
    code = "not_reviewer"
    message = "Only platform staff can do this."


class InvalidStatusError(ConflictError):
    code = "invalid_status"
    message = "This use case is not in a state that allows this."


class NotPublishedError(ConflictError):
    code = "not_published"
    message = "This use case is not published."


class ReviewNoteRequiredError(AppError):
    code = "review_note_required"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    message = "Tell the author why: a note of 1 to 1000 characters is required."


class IncompleteUseCaseError(AppError):
    """Submitting (or editing a published use case) with required fields empty.

    `extra` is the machine-readable part: the API adds it to {"detail", "code"}.
    """

    code = "incomplete"
    status = HTTPStatus.UNPROCESSABLE_ENTITY

    def __init__(self, missing_fields: list[str]) -> None:
        self.missing_fields = missing_fields
        super().__init__("Complete these fields first: " + ", ".join(missing_fields) + ".")

    @property
    def extra(self) -> dict[str, object]:
        return {
            "missing_fields": self.missing_fields,
            "errors": [
                {"field": name, "message": "This field is required."}
                for name in self.missing_fields
            ],
        }
