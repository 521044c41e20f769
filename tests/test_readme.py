"""The README says what is true: the default seed's accounts, every setting."""

from __future__ import annotations

import re

from docmemo.config import DEV_DEMO_PASSWORD, Settings
from docmemo.seeding.service import rebuild_registry
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_lists_the_accounts_of_the_default_seed(clean_db):
    listed = re.findall(
        r"^\| ([^|]+?) \| (patient|caregiver|healthpro) \| ?([a-z]*) ?\|$", README, re.MULTILINE
    )
    defaults = Settings(_env_file=None)
    report = rebuild_registry(
        clean_db, defaults.seed_users, defaults.seed, DEV_DEMO_PASSWORD, progress=False
    )
    assert listed == [
        (account.name, account.status, account.specialty or "")
        for account in report.sample_accounts
    ]
    assert f"**`{DEV_DEMO_PASSWORD}`**" in README


def test_the_configuration_table_names_every_setting():
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`((?:DOCMEMO_|DATABASE_)[A-Z_]+)`", section))
    assert documented == Settings.environment_variables()


def test_the_deployment_section_names_files_that_exist():
    section = README.split("## Deployment", 1)[1].split("\n## ", 1)[0]
    named = set(
        re.findall(
            r"(?<![\w/.-])((?:deploy/(?:k8s|compose|docker)/[\w./-]+)|Dockerfile|compose\.yaml|\.env\.example)",
            section,
        )
    )
    assert {"Dockerfile", "compose.yaml", ".env.example", "deploy/k8s/overlays/gke"} <= named
    missing = [path for path in named if not (REPO_ROOT / path.rstrip(".")).exists()]
    assert not missing
