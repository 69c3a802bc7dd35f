import http.client
import json
import unittest

from greenlight_client import WebhookVerificationError, sign_webhook, verify_webhook

# The Standard Webhooks specification's own test vector.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(signature=SIGNATURE, timestamp=TIMESTAMP):
    return {"webhook-id": ID, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


class WebhookTests(unittest.TestCase):
    def test_the_specifications_vector_is_signed_and_verified(self):
        self.assertEqual(sign_webhook(SECRET, ID, TIMESTAMP, BODY), SIGNATURE)
        self.assertEqual(verify_webhook(headers(), BODY, SECRET, now=TIMESTAMP), {"test": 2432232314})

    def test_header_names_in_any_case_and_any_container(self):
        message = http.client.HTTPMessage()
        for name, value in headers().items():
            message[name.upper()] = value
        self.assertEqual(verify_webhook(message, BODY, SECRET, now=TIMESTAMP + 299), {"test": 2432232314})
        self.assertEqual(verify_webhook(list(headers().items()), BODY, SECRET, now=TIMESTAMP - 299)["test"], 2432232314)

    def test_one_matching_v1_among_several_signatures_is_enough(self):
        rotated = "v1,bm90IHRoaXMgb25l v2,whatever " + SIGNATURE
        verify_webhook(headers(rotated), BODY, SECRET, now=TIMESTAMP)

    def test_a_changed_body_another_secret_or_id_or_an_old_timestamp_is_refused(self):
        cases = [
            (headers(), b'{"test": 2432232315}', SECRET, TIMESTAMP),
            (headers(), BODY, "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY", TIMESTAMP),
            (dict(headers(), **{"webhook-id": ID + "x"}), BODY, SECRET, TIMESTAMP),
            (headers(), BODY, SECRET, TIMESTAMP + 301),
            (headers(), BODY, SECRET, TIMESTAMP - 301),
            (headers("v2," + SIGNATURE[3:]), BODY, SECRET, TIMESTAMP),
            (headers(timestamp="soon"), BODY, SECRET, TIMESTAMP),
            ({"webhook-id": ID, "webhook-timestamp": str(TIMESTAMP)}, BODY, SECRET, TIMESTAMP),
        ]
        for index, (given, body, secret, now) in enumerate(cases):
            with self.assertRaises(WebhookVerificationError, msg="case %d" % index):
                verify_webhook(given, body, secret, now=now)

    def test_a_secret_not_in_whsec_form_says_so(self):
        with self.assertRaisesRegex(ValueError, "whsec_"):
            verify_webhook(headers(), BODY, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", now=TIMESTAMP)

    def test_a_signed_greenlight_outcome_round_trips(self):
        body = json.dumps({"requestId": "r-1", "status": "approved"}).encode()
        signed = headers(sign_webhook(SECRET, "evt-1", TIMESTAMP, body))
        signed["webhook-id"] = "evt-1"
        self.assertEqual(verify_webhook(signed, body, SECRET, now=TIMESTAMP)["status"], "approved")


if __name__ == "__main__":
    unittest.main()

    def test_a_key_too_short_to_sign_with_is_refused(self):
        with self.assertRaises(ValueError):
            verify_webhook(headers(), BODY, "whsec_", now=TIMESTAMP)
        with self.assertRaises(ValueError):
            verify_webhook(headers(), BODY, "whsec_c2hvcnQ=", now=TIMESTAMP)
