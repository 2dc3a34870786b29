"""CI fragments to paste: a GitHub Actions step or a .gitlab-ci.yml job that enrolls
the runner with the official SDK and exports the token's secrets for later steps.

The token itself is never in the text: it is read from the CI's secret store
(KEYLEDGER_ENROLLMENT_TOKEN). Values are quoted as JSON strings (valid YAML)."""

from __future__ import annotations

import json

from domain.enrollment import EnrollmentToken
from domain.errors import InvalidInput

# Reads each granted secret and writes NAME=value lines; GitHub also masks the values.
_PY = (
    "import os, sikkerkey; "
    "sk = sikkerkey.SikkerKey.bootstrap_in_memory("
    "os.environ['KEYLEDGER_VAULT_ID'], os.environ['KEYLEDGER_ENROLLMENT_TOKEN']); "
    "out = open(os.environ.get('GITHUB_ENV') or 'keyledger.env', 'a'); "
    "[(print('::add-mask::' + v) if os.environ.get('GITHUB_ENV') else None, "
    "out.write(i.upper() + '=' + v + chr(10))) "
    "for i in os.environ['KEYLEDGER_SECRETS'].split() for v in [sk.get_secret(i)]]"
)


def snippet(provider: str, api_url: str, vault_id: str, enrollment: EnrollmentToken) -> str:
    env = {
        "SIKKERKEY_API_URL": api_url,
        "KEYLEDGER_VAULT_ID": vault_id,
        "KEYLEDGER_SECRETS": " ".join(enrollment.secret_ids),
    }
    if provider == "github":
        lines = [
            f"# keyledger enrollment {enrollment.enrollment_id} ({enrollment.name}):",
            "# store the token as the repository secret KEYLEDGER_ENROLLMENT_TOKEN",
            "      - name: Secrets from keyledger",
            "        env:",
            "          KEYLEDGER_ENROLLMENT_TOKEN: ${{ secrets.KEYLEDGER_ENROLLMENT_TOKEN }}",
            *(f"          {k}: {json.dumps(v)}" for k, v in env.items()),
            "        run: |",
            "          python3 -m pip install --quiet sikkerkey",
            f"          python3 -c {json.dumps(_PY)}",
        ]
    elif provider == "gitlab":
        lines = [
            f"# keyledger enrollment {enrollment.enrollment_id} ({enrollment.name}):",
            "# store the token as the masked, protected variable KEYLEDGER_ENROLLMENT_TOKEN",
            ".keyledger-secrets:",
            "  variables:",
            *(f"    {k}: {json.dumps(v)}" for k, v in env.items()),
            "  before_script:",
            "    - python3 -m pip install --quiet sikkerkey",
            f"    - python3 -c {json.dumps(_PY)}",
            "    - set -a; . ./keyledger.env; set +a; rm -f keyledger.env",
        ]
    else:
        raise InvalidInput("provider must be github or gitlab")
    return "\n".join(lines) + "\n"
