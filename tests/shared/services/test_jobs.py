"""What the long-running operations share: their ids."""

from shared.services.jobs import is_job_id, new_id


def test_job_ids_are_32_hexadecimal_digits_and_new_each_time() -> None:
    ids = {new_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(is_job_id(i) for i in ids)
    assert not is_job_id("0123456789abcdef")
    assert not is_job_id("0123456789ABCDEF" * 2)
    assert not is_job_id("0123456789abcdeg" * 2)
