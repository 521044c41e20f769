"""Reading the web app's forms: every value arrives as text, and every problem is
shown next to its field, in words (not raised as one 422 for the whole form)."""

from __future__ import annotations

from dataclasses import dataclass, field

from docmemo.errors import DomainError, InvalidInput


@dataclass
class FormErrors:
    """Messages by field name; ``form`` for one that belongs to no field."""

    by_field: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.by_field.setdefault(name, message)

    def add_refusal(self, error: DomainError, default_field: str = "form") -> None:
        """A service's refusal, next to the field it names (InvalidInput.field)."""
        name = error.field if isinstance(error, InvalidInput) and error.field else default_field
        self.add(name, error.detail)

    def __bool__(self) -> bool:
        return bool(self.by_field)

    def get(self, name: str) -> str | None:
        return self.by_field.get(name)


def parse_int(
    raw: str | None,
    name: str,
    errors: FormErrors,
    *,
    label: str,
    minimum: int,
    maximum: int,
    required: bool = True,
) -> int | None:
    """The whole number in ``raw``, or None with a message for ``name`` in ``errors``."""
    text = (raw or "").strip()
    if not text:
        if required:
            errors.add(name, f"Enter the {label}.")
        return None
    try:
        value = int(text)
    except ValueError:
        errors.add(name, f"The {label} must be a whole number, like {minimum + 1}.")
        return None
    if not minimum <= value <= maximum:
        errors.add(name, f"The {label} must be between {minimum} and {maximum}.")
        return None
    return value
