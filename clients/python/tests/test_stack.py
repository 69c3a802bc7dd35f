"""The client against a running Greenlight (GREENLIGHT_INTAKE_URL, GREENLIGHT_API_KEY with every scope): Greenlight's
end-to-end test PythonClientTests starts one and runs these. Without the variables they fail, saying so."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

from greenlight_client import (
    GreenlightClient, InvalidRequest, NotFound, Unauthorized, Unreachable, action_digest, verify_webhook,
)

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(os.path.dirname(HERE), "examples", "gated_tool_call.py")
APPROVER = "agent-owner@example.com"


def settings():
    url, key = os.environ.get("GREENLIGHT_INTAKE_URL"), os.environ.get("GREENLIGHT_API_KEY")
    if not url or not key:
        raise RuntimeError(
            "GREENLIGHT_INTAKE_URL and GREENLIGHT_API_KEY must name a running Greenlight and a key with every scope: "
            "run these through Greenlight's scripts/test --filter PythonClientTests, which starts one")
    return url, key


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def wait_until_recorded(client, request_id, timeout=30, submitter=None):
    """The request's status once intake can read it (its workflow records it moments after the 202); fails at once
    if ``submitter`` (a process that submits it) has exited first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.status(request_id)
        except NotFound:
            if submitter is not None and submitter.poll() is not None:
                raise AssertionError("the agent exited (%d) before %s was recorded:\n%s" % (
                    submitter.returncode, request_id, submitter.stdout.read())) from None
            if time.monotonic() > deadline:
                raise AssertionError("%s was not recorded within %d s" % (request_id, timeout)) from None
            time.sleep(0.1)


def decide(url, key, request_id, decision, comment=None):
    """What the approver does, through the API (POST /v1/requests/{id}/decision)."""
    body = {"decision": decision, "decidedBy": APPROVER}
    if comment:
        body["comment"] = comment
    request = urllib.request.Request(
        "%s/v1/requests/%s/decision" % (url, request_id), data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as response:
        if response.status != 202:
            raise AssertionError("the decision was answered %d" % response.status)


class StackTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.url, cls.key = settings()
        cls.client = GreenlightClient(cls.url, api_key=cls.key, timeout=20)

    def wait_until_recorded(self, request_id):
        return wait_until_recorded(self.client, request_id)

    def decide(self, request_id, decision, comment=None):
        decide(self.url, self.key, request_id, decision, comment)

    # -- the four operations

    def test_submit_status_and_wait_for_an_approved_action_whose_digest_matches(self):
        request_id = unique("py-approve")
        action = {"tool": "deploy", "arguments": {"service": "web", "version": "2.0.1", "replicas": 3, "canary": 0.25}}
        accepted = self.client.submit(
            requestId=request_id, title="Deploy web 2.0.1", description="Roll out the new checkout.",
            details={"service": "web", "from": "2.0.0"}, action=action, approvers=[APPROVER], amount=None)
        self.assertEqual(accepted["requestId"], request_id)
        self.assertTrue(accepted["statusUrl"].endswith("/v1/requests/" + request_id))

        status = self.wait_until_recorded(request_id)
        self.assertEqual(status["status"], "pending")
        self.assertEqual(status["title"], "Deploy web 2.0.1")
        self.assertEqual(status["action"], action)
        self.assertNotIn("amount", {k: v for k, v in status.items() if v is not None})

        self.decide(request_id, "approve", comment="ship it")
        outcome = self.client.wait_for_outcome(request_id, timeout=30)
        self.assertEqual(outcome["status"], "approved")
        self.assertEqual(outcome["decidedBy"], APPROVER)
        self.assertEqual(outcome["actionDigest"], action_digest(action))

    def test_the_long_poll_answers_as_soon_as_the_request_ends(self):
        request_id = unique("py-longpoll")
        self.client.submit(requestId=request_id, description="Long-poll test", approvers=[APPROVER])
        self.wait_until_recorded(request_id)
        answers = []
        waiter = threading.Thread(target=lambda: answers.append((self.client.outcome(request_id, wait=50), time.monotonic())))
        waiter.start()
        time.sleep(1)  # the waiter is inside its long-poll by now; answering early would only make this test pass sooner
        decided = time.monotonic()
        self.decide(request_id, "reject", comment="not today")
        waiter.join(timeout=40)
        self.assertFalse(waiter.is_alive(), "the long-poll did not answer within 40 s of the decision")
        outcome, answered = answers[0]
        self.assertEqual(outcome["status"], "rejected")
        self.assertEqual(outcome["comment"], "not today")
        self.assertLess(answered - decided, 10, "the long-poll answered only when its wait ran out, not at the decision")

    def test_waiting_past_the_timeout_returns_the_pending_state(self):
        request_id = unique("py-timeout")
        self.client.submit(requestId=request_id, description="Nobody decides this", approvers=[APPROVER])
        self.wait_until_recorded(request_id)
        started = time.monotonic()
        state = self.client.wait_for_outcome(request_id, timeout=2)
        waited = time.monotonic() - started
        self.assertEqual(state["status"], "pending")
        self.assertGreaterEqual(waited, 2)
        self.assertLess(waited, 15)

    def test_refusals_are_typed_and_carry_what_to_fix(self):
        with self.assertRaises(InvalidRequest) as caught:
            self.client.submit(requestId="has spaces", description="x")
        self.assertEqual(caught.exception.status, 400)
        self.assertIn("requestId", [error["field"] for error in caught.exception.errors])
        self.assertIn("requestId", str(caught.exception))

        with self.assertRaises(ValueError):
            self.client.submit(requestId=unique("py"), titel="misspelt")

        with self.assertRaises(Unauthorized) as caught:
            GreenlightClient(self.url, api_key="not-a-key-of-this-deployment").status("anything")
        self.assertIn("Authorization", caught.exception.detail)

        with self.assertRaises(NotFound):
            self.client.status(unique("py-missing"))
        with self.assertRaises(NotFound):
            self.client.outcome(unique("py-missing"), wait=1)

        with socket.socket() as probe:  # a port nothing listens on: refused at once
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]
        with self.assertRaises(Unreachable):
            GreenlightClient("http://127.0.0.1:%d" % closed, api_key=self.key, timeout=5).status("anything")


class ExampleTests(unittest.TestCase):
    """examples/gated_tool_call.py, the README's agent example, run as an agent would run it."""

    @classmethod
    def setUpClass(cls):
        cls.url, cls.key = settings()
        cls.client = GreenlightClient(cls.url, api_key=cls.key)

    def run_example(self, decision, comment=None):
        directory = tempfile.mkdtemp()
        path = os.path.join(directory, "old-report.csv")
        with open(path, "w") as file:
            file.write("a,b\n")
        request_id = unique("py-example")
        # The same interpreter, so the same installed greenlight_client; settings from the environment, as an agent's.
        agent = subprocess.Popen(
            [sys.executable, EXAMPLE, path, "--request-id", request_id, "--approver", APPROVER, "--timeout", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=dict(os.environ, GREENLIGHT_INTAKE_URL=self.url, GREENLIGHT_API_KEY=self.key))
        try:
            status = wait_until_recorded(self.client, request_id, submitter=agent)
            self.assertEqual(status["action"], {"tool": "delete_file", "arguments": {"path": path}})
            self.assertTrue(os.path.exists(path), "the agent ran the call before anyone decided")
            decide(self.url, self.key, request_id, decision, comment)
            output, _ = agent.communicate(timeout=60)
        finally:
            if agent.poll() is None:
                agent.kill()
        return agent.returncode, output, os.path.exists(path)

    def test_the_call_runs_once_approved(self):
        status, output, exists = self.run_example("approve")
        self.assertEqual(status, 0, output)
        self.assertFalse(exists, output)
        self.assertIn("deleted", output)

    def test_the_call_does_not_run_when_rejected(self):
        status, output, exists = self.run_example("reject", comment="we still need it")
        self.assertEqual(status, 1, output)
        self.assertTrue(exists, output)
        self.assertIn("rejected (we still need it)", output)


class WebhookReceiverTests(unittest.TestCase):
    """A receiver of Greenlight's signed outcome webhooks (the stack runs with GREENLIGHT_CALLBACK_SECRET set to
    GREENLIGHT_TEST_CALLBACK_SECRET and private callback addresses allowed)."""

    @classmethod
    def setUpClass(cls):
        cls.url, cls.key = settings()
        cls.secret = os.environ.get("GREENLIGHT_TEST_CALLBACK_SECRET")
        if not cls.secret:
            raise RuntimeError("GREENLIGHT_TEST_CALLBACK_SECRET must be the stack's GREENLIGHT_CALLBACK_SECRET")
        cls.client = GreenlightClient(cls.url, api_key=cls.key)

    def test_the_outcome_webhook_verifies_with_the_deployments_secret(self):
        received = []
        secret = self.secret

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    received.append(("verified", verify_webhook(self.headers, body, secret)))
                except Exception as error:  # a failure here is what the test reports
                    received.append(("refused", repr(error)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        server = HTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            request_id = unique("py-webhook")
            self.client.submit(
                requestId=request_id, description="Webhook test", approvers=[APPROVER],
                callbackUrl="http://127.0.0.1:%d/greenlight" % server.server_address[1])
            wait_until_recorded(self.client, request_id)
            decide(self.url, self.key, request_id, "approve")
            deadline = time.monotonic() + 30
            while not received and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertTrue(received, "no webhook arrived within 30 s")
            verdict, payload = received[0]
            self.assertEqual(verdict, "verified", payload)
            self.assertEqual(payload["requestId"], request_id)
            with self.assertRaises(Exception):
                verify_webhook({"webhook-id": "x", "webhook-timestamp": str(int(time.time())), "webhook-signature": "v1,AAAA"}, b"{}", secret)
        finally:
            server.shutdown()


if __name__ == "__main__":
    unittest.main()
