from shared.services.store import Outcome
from shared.services.store_response import store_response

ROOT = "http://127.0.0.1:7071/v2"


def stored(sop: str = "1.2.3", comments: tuple[str, ...] = ()) -> Outcome:
    return Outcome("1.2.840.10008.5.1.4.1.1.7", sop, "1.2", "1.2.1", comments=comments)


def failed(reason: int) -> Outcome:
    return Outcome("1.2.840.10008.5.1.4.1.1.7", "9.9", "1.2", "1.2.1", failure=reason)


def test_all_stored_is_200_with_urls() -> None:
    status, body = store_response([stored("1.2.3"), stored("1.2.4")], ROOT, None)
    assert status == 200 and body is not None
    assert body["00081190"] == {"vr": "UR", "Value": [f"{ROOT}/studies/1.2"]}
    items = body["00081199"]["Value"]
    assert [i["00081155"]["Value"][0] for i in items] == ["1.2.3", "1.2.4"]
    assert items[0]["00081190"]["Value"] == [f"{ROOT}/studies/1.2/series/1.2.1/instances/1.2.3"]
    assert "00081198" not in body


def test_some_failed_is_202_and_none_stored_is_409() -> None:
    status, body = store_response([stored(), failed(45070)], ROOT, None)
    assert status == 202 and body is not None
    assert body["00081198"]["Value"][0]["00081197"] == {"vr": "US", "Value": [45070]}
    status, body = store_response([failed(272), failed(43264)], ROOT, "1.2")
    assert status == 409 and body is not None
    assert "00081199" not in body and "00081190" not in body


def test_warnings_make_202_with_failed_attributes() -> None:
    status, body = store_response([stored(comments=("(0008,0020) StudyDate: bad",))], ROOT, None)
    assert status == 202 and body is not None
    item = body["00081199"]["Value"][0]
    assert item["00081196"] == {"vr": "US", "Value": [1]}
    comment = item["00741048"]["Value"][0]["00000902"]
    assert comment == {"vr": "LO", "Value": ["(0008,0020) StudyDate: bad"]}


def test_no_parts_is_204() -> None:
    assert store_response([], ROOT, None) == (204, None)
