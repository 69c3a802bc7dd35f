"""The README's agent example, offline: it runs the call only for an approval of exactly this call."""

import importlib.util
import os
import tempfile
import unittest

from greenlight_client import action_digest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("gated_tool_call", os.path.join(os.path.dirname(HERE), "examples", "gated_tool_call.py"))
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)


class GatedToolCallTests(unittest.TestCase):
    def setUp(self):
        handle, self.path = tempfile.mkstemp()
        os.close(handle)
        self.action = {"tool": "delete_file", "arguments": {"path": self.path}}
        self.addCleanup(lambda: os.path.exists(self.path) and os.remove(self.path))

    def test_an_approval_of_this_call_runs_it(self):
        status, message = example.run_if_approved({"status": "approved", "actionDigest": action_digest(self.action)}, self.action)
        self.assertEqual(status, 0)
        self.assertFalse(os.path.exists(self.path), message)

    def test_an_approval_of_another_call_does_not(self):
        approved = {"tool": "delete_file", "arguments": {"path": self.path + ".bak"}}
        for digest in (action_digest(approved), None, ""):
            status, message = example.run_if_approved({"status": "approved", "actionDigest": digest}, self.action)
            self.assertEqual(status, 2, message)
            self.assertTrue(os.path.exists(self.path))

    def test_anything_but_an_approval_does_not(self):
        for ended in ("rejected", "timed_out", "cancelled", "failed", "pending"):
            outcome = {"status": ended, "actionDigest": action_digest(self.action)}
            self.assertEqual(example.run_if_approved(outcome, self.action)[0], 1)
        self.assertTrue(os.path.exists(self.path))


if __name__ == "__main__":
    unittest.main()
