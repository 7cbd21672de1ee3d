"""What a simulated system answers, whatever its style: the views turn it into an HTTP response."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Answer:
    """What a simulated system answers: an HTTP status, a JSON body and any extra headers."""

    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)
