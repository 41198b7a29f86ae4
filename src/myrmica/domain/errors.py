"""Errors the domain raises; the API maps each to a status code and the dialect's error shape."""

from __future__ import annotations


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, *, field: str | None = None, task: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.task = task


class ValidationError(DomainError):
    status = 422


class NotFoundError(DomainError):
    status = 404


class ConflictError(DomainError):
    status = 409


class PermissionDeniedError(DomainError):
    status = 403
