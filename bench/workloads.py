"""The requests of the open-model scenarios: what request number n sends, and what a correct
answer to it is. Plain Python (no Django), so the load generator can import it.

Request numbers run on through the whole benchmark (probe, warm-up and every run), so:
- `login` cycles through the seeded users (bench/seed.py), never a wrong password: five
  failures in 15 minutes would lock an address;
- `signup` uses a new email domain for every request (a domain that already has an
  organization is refused with 409), under a token drawn once per benchmark run.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass

# Only ever sent to the benchmark's own throw-away database.
LOGIN_PASSWORD = "Bench-Login-Seam-2026"  # noqa: S105
SIGNUP_PASSWORD = "Bench-Signup-Weld-2026"  # noqa: S105
LOGIN_DOMAIN = "bench-login.example"
LOGIN_ORGANIZATION = "Bench Login Works"
SESSION_COOKIE = "sessionid"


def login_email(index: int) -> str:
    return f"user{index:05d}@{LOGIN_DOMAIN}"


def signup_domain(token: str, number: int) -> str:
    return f"bench-{token}-{number}.example"


@dataclass(frozen=True)
class RequestPlan:
    """What the generator needs to build request n: the number of seeded users to cycle through
    and the run's token for unique sign-up domains."""

    users: int
    token: str


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    method: str
    path: str
    expected_status: int

    def payload(self, number: int, plan: RequestPlan) -> dict[str, str]:
        raise NotImplementedError

    def body(self, number: int, plan: RequestPlan) -> bytes:
        return json.dumps(self.payload(number, plan)).encode()

    def check(
        self, payload: Mapping[str, str], status: int, headers: Mapping[str, str], body: bytes
    ) -> str | None:
        """None if this is exactly the expected answer to `payload`, else what is wrong."""
        if status != self.expected_status:
            return f"status {status}, expected {self.expected_status}"
        content_type = headers.get("content-type", "")
        if content_type.split(";")[0].strip() != "application/json":
            return f"Content-Type {content_type!r}, expected application/json"
        try:
            document = json.loads(body)
        except ValueError:
            return "the body is not JSON"
        return self.check_document(payload, headers, document)

    def check_document(
        self, payload: Mapping[str, str], headers: Mapping[str, str], document: object
    ) -> str | None:
        raise NotImplementedError


def _user_email(document: object) -> object:
    if isinstance(document, dict) and isinstance(document.get("user"), dict):
        return document["user"].get("email")
    return None


@dataclass(frozen=True)
class Login(Workload):
    def payload(self, number: int, plan: RequestPlan) -> dict[str, str]:
        return {"email": login_email(number % plan.users), "password": LOGIN_PASSWORD}

    def check_document(
        self, payload: Mapping[str, str], headers: Mapping[str, str], document: object
    ) -> str | None:
        if _user_email(document) != payload["email"]:
            return f"user.email is not {payload['email']!r}"
        if f"{SESSION_COOKIE}=" not in headers.get("set-cookie", ""):
            return f"no {SESSION_COOKIE} cookie was set"
        return None


@dataclass(frozen=True)
class Signup(Workload):
    def payload(self, number: int, plan: RequestPlan) -> dict[str, str]:
        domain = signup_domain(plan.token, number)
        return {
            "email": f"owner@{domain}",
            "password": SIGNUP_PASSWORD,
            "organizationName": f"Bench Works {plan.token} {number}",
            "firstName": "Bench",
            "lastName": "Owner",
        }

    def check_document(
        self, payload: Mapping[str, str], headers: Mapping[str, str], document: object
    ) -> str | None:
        if _user_email(document) != payload["email"]:
            return f"user.email is not {payload['email']!r}"
        organization = document.get("organization") if isinstance(document, dict) else None
        domain = payload["email"].rpartition("@")[2]
        if not isinstance(organization, dict) or organization.get("email_domain") != domain:
            return f"organization.email_domain is not {domain!r}"
        return None


LOGIN = Login(
    "login",
    "POST /api/v1/auth/login with a seeded user's correct password (one Argon2 check each)",
    "POST",
    "/api/v1/auth/login",
    200,
)
SIGNUP = Signup(
    "signup",
    "POST /api/v1/auth/signup with a new email domain each time (one Argon2 hash, an "
    "organization, a user and a queued verification email each)",
    "POST",
    "/api/v1/auth/signup",
    201,
)

WORKLOADS: dict[str, Workload] = {workload.name: workload for workload in (LOGIN, SIGNUP)}
