"""The README's demo accounts are the ones the default seed really generates."""

from __future__ import annotations

import re

from docmemo.config import DEV_DEMO_PASSWORD, Settings
from docmemo.seeding.service import rebuild_registry
from tests.conftest import REPO_ROOT


def test_the_readme_lists_the_accounts_of_the_default_seed(clean_db):
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    listed = re.findall(
        r"^\| ([^|]+?) \| (patient|caregiver|healthpro) \| ?([a-z]*) ?\|$", readme, re.MULTILINE
    )
    defaults = Settings(_env_file=None)
    report = rebuild_registry(
        clean_db, defaults.seed_users, defaults.seed, DEV_DEMO_PASSWORD, progress=False
    )
    assert listed == [
        (account.name, account.status, account.specialty or "")
        for account in report.sample_accounts
    ]
    assert f"**`{DEV_DEMO_PASSWORD}`**" in readme
