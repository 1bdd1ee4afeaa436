"""AccountRef: the parent keeps the bare job lock name, each sub-account its own."""

from __future__ import annotations

from etl.accounts import PARENT, AccountRef


def test_the_parent_keeps_the_lock_name_instances_before_sub_accounts_used():
    assert PARENT.lock_name("stops") == "stops"
    assert PARENT.label == "main" and PARENT.is_parent


def test_each_sub_account_locks_its_own_run_of_a_job():
    shop = AccountRef(7, "shop")
    assert shop.lock_name("stops") == "stops@7"
    assert shop.lock_name("stops") != AccountRef(8, "shop").lock_name("stops")
    assert not shop.is_parent


def test_logs_name_a_sub_account_run_by_its_label():
    assert PARENT.shown("stops") == "stops"
    assert AccountRef(7, "shop").shown("stops") == "stops@shop"
