#!/usr/bin/env python3
"""An agent's dangerous tool call, gated on a human: ask Greenlight for approval of the exact call, wait for the
decision, and run the call only if it was approved and the approved action's digest is this call's digest.

    GREENLIGHT_INTAKE_URL=http://127.0.0.1:8080 GREENLIGHT_API_KEY=... python3 gated_tool_call.py /tmp/old-report.csv

Exit status: 0 ran; 1 not approved (rejected, timed out, cancelled); 2 approved, but not this call.
"""
import argparse
import os
import sys
import uuid

from greenlight_client import GreenlightClient, action_digest


def delete_file(path):
    """The tool the agent wants to call."""
    os.remove(path)
    return "deleted " + path


TOOLS = {"delete_file": delete_file}


def run_if_approved(outcome, action):
    """Runs the action only if the outcome approves exactly it; returns (exit status, message)."""
    if outcome.get("status") != "approved":
        return 1, "not run: the request ended %s%s" % (outcome.get("status"), " (" + outcome["comment"] + ")" if outcome.get("comment") else "")
    if outcome.get("actionDigest") != action_digest(action):
        return 2, "not run: the approved action is not this call (digest %s, ours %s)" % (outcome.get("actionDigest"), action_digest(action))
    return 0, TOOLS[action["tool"]](**action["arguments"])


def main():
    parser = argparse.ArgumentParser(description="Delete a file once a human approves.")
    parser.add_argument("path")
    parser.add_argument("--request-id", default="agent-" + uuid.uuid4().hex[:12])
    parser.add_argument("--approver", default=os.environ.get("GREENLIGHT_APPROVER"))
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for a decision")
    options = parser.parse_args()

    action = {"tool": "delete_file", "arguments": {"path": os.path.abspath(options.path)}}
    greenlight = GreenlightClient()  # GREENLIGHT_INTAKE_URL, GREENLIGHT_API_KEY
    greenlight.submit(
        requestId=options.request_id, title="Delete " + os.path.basename(options.path),
        description="The cleanup agent wants to delete a file it believes is no longer used.",
        action=action, approvers=[options.approver] if options.approver else None,
        timeoutSeconds=int(options.timeout), requireReason="reject")
    print("waiting for a decision on %s" % options.request_id, flush=True)
    outcome = greenlight.wait_for_outcome(options.request_id, timeout=options.timeout + 5)
    status, message = run_if_approved(outcome, action)
    print(message)
    return status


if __name__ == "__main__":
    sys.exit(main())
