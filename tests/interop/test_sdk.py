"""Microsoft's Graph SDKs for Python against a running callrecords server (see run.sh)."""
import asyncio
import datetime as dt
import json
import os
from pathlib import Path

import pytest
from kiota_abstractions.api_error import APIError
from kiota_abstractions.authentication import (AccessTokenProvider, AllowedHostsValidator,
                                               BaseBearerTokenAuthenticationProvider)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_core.tasks.page_iterator import PageIterator

URL = os.environ["CALLRECORDS_URL"]
WORK = Path(os.environ["CALLRECORDS_WORK"])
BIG = "b16b16b1-0000-4000-8000-000000000150"
DOC = "e523d2ed-2966-4b6b-925b-754a88034cc5"


class StaticToken(AccessTokenProvider):
    async def get_authorization_token(self, uri, additional_authentication_context=None):
        return "interop-test-token"

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([])


def client(beta=False):
    auth = BaseBearerTokenAuthenticationProvider(StaticToken())
    if beta:
        from msgraph_beta import GraphRequestAdapter as BetaAdapter, GraphServiceClient as BetaClient
        adapter = BetaAdapter(auth)
        adapter.base_url = f"{URL}/beta"
        return BetaClient(request_adapter=adapter), adapter
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = f"{URL}/v1.0"
    return GraphServiceClient(request_adapter=adapter), adapter


def run(coro):
    return asyncio.run(coro)


async def collect(first, adapter, factory=None):
    items = []
    it = PageIterator(first, adapter, factory) if factory else PageIterator(first, adapter)

    def take(item):
        items.append(item)
        return True

    await it.iterate(take)
    return items


def test_list_every_record_with_the_page_iterator():
    async def go():
        c, adapter = client()
        first = await c.communications.call_records.get()
        assert first.value, "first page is empty"
        assert len(first.value) <= 60
        records = await collect(first, adapter)
        return records
    records = run(go())
    ids = [r.id for r in records]
    assert len(ids) == len(set(ids)), "a record was listed twice"
    assert sorted(ids) == json.loads((WORK / "ids.json").read_text())
    starts = [r.start_date_time for r in records if r.start_date_time]
    assert starts == sorted(starts), "not ordered by startDateTime"
    assert all(r.sessions is None or r.sessions == [] for r in records), "list items carry no sessions"


def test_get_with_expanded_sessions_and_segments_then_page_the_sessions():
    async def go():
        c, adapter = client()
        cfg = RequestConfiguration(query_parameters=c.communications.call_records.by_call_record_id(BIG)
                                   .CallRecordItemRequestBuilderGetQueryParameters(expand=["sessions($expand=segments)"]))
        rec = await c.communications.call_records.by_call_record_id(BIG).get(request_configuration=cfg)
        assert rec.id == BIG
        assert len(rec.sessions) == 60
        assert all(s.segments for s in rec.sessions), "segments were expanded"
        assert rec.organizer_v2 is not None and rec.organizer_v2.id
        sessions_page = await c.communications.call_records.by_call_record_id(BIG).sessions.get()
        assert len(sessions_page.value) == 60 and sessions_page.odata_next_link
        all_sessions = await collect(sessions_page, adapter)
        return all_sessions
    sessions = run(go())
    assert [s.id for s in sessions] == [f"5e55105e-0000-4000-8000-{i:012d}" for i in range(150)]
    caller = sessions[0].caller
    assert type(caller).__name__ in ("ParticipantEndpoint", "ServiceEndpoint"), type(caller)


def test_participants_paging_and_expand():
    async def go():
        c, adapter = client()
        item = c.communications.call_records.by_call_record_id(BIG)
        cfg = RequestConfiguration(query_parameters=item.CallRecordItemRequestBuilderGetQueryParameters(expand=["participants_v2"]))
        rec = await item.get(request_configuration=cfg)
        assert len(rec.participants_v2) == 130
        first = await item.participants_v2.get()
        assert len(first.value) == 130
        return await collect(first, adapter)
    participants = run(go())
    assert len(participants) == 300
    assert len({p.id for p in participants}) == 300


def test_select():
    async def go():
        c, _ = client()
        item = c.communications.call_records.by_call_record_id(DOC)
        cfg = RequestConfiguration(query_parameters=item.CallRecordItemRequestBuilderGetQueryParameters(select=["id", "type", "version"]))
        return await item.get(request_configuration=cfg)
    rec = run(go())
    assert rec.id == DOC and rec.version == 1 and rec.type is not None
    assert rec.start_date_time is None and rec.modalities is None


def test_document_example_values():
    async def go():
        c, _ = client()
        return await c.communications.call_records.by_call_record_id(DOC).get()
    rec = run(go())
    assert rec.version == 1
    assert rec.start_date_time == dt.datetime(2020, 2, 25, 18, 52, 21, 216988, tzinfo=dt.timezone.utc) or \
        rec.start_date_time.replace(microsecond=0) == dt.datetime(2020, 2, 25, 18, 52, 21, tzinfo=dt.timezone.utc)
    assert rec.organizer_v2.id == "821809f5-0000-0000-0000-3b5136c0e777"


def test_pstn_calls_function_and_its_paging():
    async def go():
        c, adapter = client()
        fn = c.communications.call_records.microsoft_graph_call_records_get_pstn_calls_with_from_date_time_with_to_date_time(
            dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2026, 3, 31, tzinfo=dt.timezone.utc))
        first = await fn.get()
        rows = list(first.value)
        assert len(rows) == 1000 and first.odata_next_link
        link = first.odata_next_link
        while link:
            page = await fn.with_url(link).get()
            rows.extend(page.value)
            link = page.odata_next_link
        return rows
    rows = run(go())
    assert len(rows) == 2300
    assert len({r.id for r in rows}) == 2300


def test_a_missing_record_is_an_odata_error_with_its_code():
    async def go():
        c, _ = client()
        return await c.communications.call_records.by_call_record_id("00000000-0000-0000-0000-000000000000").get()
    with pytest.raises(ODataError) as err:
        run(go())
    assert err.value.response_status_code == 404
    assert err.value.error.code == "itemNotFound"


def test_beta_sdk_reads_records_and_the_sms_log():
    async def go():
        c, _ = client(beta=True)
        rec = await c.communications.call_records.by_call_record_id(DOC).get()
        fn = c.communications.call_records.microsoft_graph_call_records_get_sms_log_with_from_date_time_with_to_date_time(
            dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2026, 3, 31, tzinfo=dt.timezone.utc))
        sms = await fn.get()
        return rec, sms
    rec, sms = run(go())
    assert rec.id == DOC
    assert len(sms.value) == 50
