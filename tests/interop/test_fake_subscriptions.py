"""Microsoft's msgraph-sdk manages a subscription against `serve --fake` (see run.sh): the token comes from
the fake's Entra-like token endpoint by a plain client-credentials POST, the validation handshake and the
notifications go to a small HTTP receiver run inside this test."""
import asyncio
import datetime as dt
import json
import os
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kiota_abstractions.authentication import (AccessTokenProvider, AllowedHostsValidator,
                                               BaseBearerTokenAuthenticationProvider)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.subscription import Subscription

URL = os.environ["CALLRECORDS_FAKE_URL"]
TENANT = "dc368399-474c-4d40-900c-6265431fd81f"  # the fake's default tenant


def fetch_token():
    """A plain client-credentials request, as any OAuth client makes it."""
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials",
        "client_id": "fake-client",
        "client_secret": "fake-secret",
        "scope": "https://graph.microsoft.com/.default",
    }).encode()
    req = urllib.request.Request(f"{URL}/{TENANT}/oauth2/v2.0/token", data=form,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = json.load(r)
    assert body["token_type"] == "Bearer"
    return body["access_token"], time.time() + int(body["expires_in"])


class ClientCredentials(AccessTokenProvider):
    """Fetches a token from the fake's token endpoint and reuses it until shortly before it expires."""

    def __init__(self):
        self.token, self.expires = None, 0.0
        self.fetched = 0

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        if self.token is None or time.time() > self.expires - 60:
            self.token, self.expires = await asyncio.to_thread(fetch_token)
            self.fetched += 1
        return self.token

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([])


class Receiver(BaseHTTPRequestHandler):
    validations = []
    items = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        if "validationToken" in query:
            token = query["validationToken"][0].encode()
            Receiver.validations.append(token)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(token)))
            self.end_headers()
            self.wfile.write(token)
            return
        Receiver.items.extend(json.loads(body)["value"])
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def client():
    creds = ClientCredentials()
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(creds))
    adapter.base_url = f"{URL}/v1.0"
    return GraphServiceClient(request_adapter=adapter), creds


def test_graph_routes_need_a_token():
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{URL}/v1.0/subscriptions", timeout=10)
    assert e.value.code == 401
    assert json.load(e.value)["error"]["code"] == "InvalidAuthenticationToken"


def test_create_list_renew_delete_a_subscription(receiver):
    async def go():
        graph, creds = client()
        expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
        created = await graph.subscriptions.post(Subscription(
            change_type="created",
            notification_url=receiver,
            resource="/communications/callRecords",
            expiration_date_time=expires,
            client_state="interop-state",
        ))
        assert created.id
        assert created.resource == "/communications/callRecords"
        assert created.application_id == "fake-client"
        assert abs((created.expiration_date_time - expires).total_seconds()) < 1
        assert len(Receiver.validations) == 1

        listed = await graph.subscriptions.get()
        assert [s.id for s in listed.value] == [created.id]

        renewed_to = expires + dt.timedelta(hours=24)
        renewed = await graph.subscriptions.by_subscription_id(created.id).patch(
            Subscription(expiration_date_time=renewed_to))
        assert abs((renewed.expiration_date_time - renewed_to).total_seconds()) < 1
        got = await graph.subscriptions.by_subscription_id(created.id).get()
        assert abs((got.expiration_date_time - renewed_to).total_seconds()) < 1

        # Beyond 4,230 minutes: Graph's ExtensionError, raised by the SDK as an ODataError.
        with pytest.raises(ODataError) as e:
            await graph.subscriptions.by_subscription_id(created.id).patch(Subscription(
                expiration_date_time=expires + dt.timedelta(minutes=4300)))
        assert e.value.response_status_code == 400
        assert e.value.error.code == "ExtensionError"

        # The fake publishes an hour of calls: the receiver is told of them.
        req = urllib.request.Request(f"{URL}/fake/advance?minutes=60", method="POST")
        with urllib.request.urlopen(req, timeout=60) as r:
            assert json.load(r)["tenants"][0]["records"] > 0
        deadline = time.time() + 20
        while not Receiver.items and time.time() < deadline:
            await asyncio.sleep(0.05)
        assert Receiver.items, "no notification after an advance"
        item = Receiver.items[0]
        assert item["subscriptionId"] == created.id
        assert item["clientState"] == "interop-state"
        assert item["tenantId"] == TENANT
        record = await graph.communications.call_records.by_call_record_id(
            item["resourceData"]["id"]).get()
        assert record.id == item["resourceData"]["id"]

        await graph.subscriptions.by_subscription_id(created.id).delete()
        with pytest.raises(ODataError) as e:
            await graph.subscriptions.by_subscription_id(created.id).get()
        assert e.value.response_status_code == 404
        assert (await graph.subscriptions.get()).value == []
        assert creds.fetched == 1, "one token, reused"

    asyncio.run(go())
