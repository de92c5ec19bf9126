"""The API Gateway Management API (`@connections`): PostToConnection and DeleteConnection,
one signed request each, in place of a boto3 `apigatewaymanagementapi` client."""

from __future__ import annotations

from urllib.parse import quote

from omnichat.aws.client import AwsError, AwsHttpClient


class GoneError(AwsError):
    """410 GoneException: the client has disconnected."""


class ManagementApi:
    def __init__(self, endpoint_url: str, region: str | None, **options: float) -> None:
        self._client = AwsHttpClient(endpoint_url, "execute-api", region, **options)  # type: ignore[arg-type]

    def post_to_connection(self, connection_id: str, data: bytes) -> None:
        self._call("POST", connection_id, data)

    def delete_connection(self, connection_id: str) -> None:
        self._call("DELETE", connection_id, b"")

    def _call(self, method: str, connection_id: str, body: bytes) -> None:
        headers = {"Content-Type": "application/octet-stream"} if body else {}
        try:
            self._client.request(method, f"/@connections/{quote(connection_id, safe='')}", body, headers)
        except AwsError as error:
            if error.status == 410:
                raise GoneError(error.status, error.code, error.message) from None
            raise
