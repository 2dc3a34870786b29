"""`GET /v1/bootstrap/{token}/k8s`: the bootstrap script for a Kubernetes workload.

It registers `k8s-{hostname}` with the ordinary bootstrap token (pending approval,
like any bootstrap) and prints the `kubectl create secret generic keyledger-identity`
command; deploy/kubernetes/ shows the init container that turns that secret into an
identity and writes the granted secrets to an in-memory volume."""

from __future__ import annotations

from litestar import Controller, Response, get

from domain.errors import NotFound
from interfaces.bootstrap import Services
from interfaces.http.deps import AnyRequest
from interfaces.http.enroll import TOKEN, api_url, bootstrap_script


class KubernetesController(Controller):
    tags = ["enrollment"]

    @get("/v1/bootstrap/{token:str}/k8s", sync_to_thread=True)
    def script(self, token: str, request: AnyRequest, services: Services) -> Response[str]:
        """`curl -sSL …/v1/bootstrap/<token>/k8s | sh` — registers and prints the command."""
        if not TOKEN.fullmatch(token):
            raise NotFound("Unknown bootstrap token")
        script = bootstrap_script(api_url(request, services), token, "bootstrap_k8s.sh")
        return Response(script, media_type="text/x-shellscript")
