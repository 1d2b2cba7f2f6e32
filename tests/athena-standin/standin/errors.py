"""Errors in the AWS JSON 1.1 shape botocore reads: `__type` names the exception, `Message` says why."""


class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str, **fields):
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.fields = fields

    def body(self) -> dict:
        return {"__type": self.kind, "Message": self.message, **self.fields}


def invalid(message: str, code: str = "INVALID_INPUT") -> ApiError:
    """Athena's InvalidRequestException, with its AthenaErrorCode."""
    return ApiError(400, "InvalidRequestException", message, AthenaErrorCode=code, ErrorCode=code)


def not_found(message: str) -> ApiError:
    """Glue's EntityNotFoundException (Athena's metadata calls wrap it in MetadataException)."""
    return ApiError(400, "EntityNotFoundException", message)
