import hashlib
import json
import os
import struct
import unittest

from greenlight_client import action_digest, canonical_json

HERE = os.path.dirname(os.path.abspath(__file__))

# RFC 8785 appendix B: IEEE 754 doubles and how ECMAScript (and so JCS) writes them.
NUMBERS = """
0000000000000000 0
8000000000000000 0
0000000000000001 5e-324
8000000000000001 -5e-324
7fefffffffffffff 1.7976931348623157e+308
ffefffffffffffff -1.7976931348623157e+308
4340000000000000 9007199254740992
c340000000000000 -9007199254740992
4430000000000000 295147905179352830000
44b52d02c7e14af5 9.999999999999997e+22
44b52d02c7e14af6 1e+23
44b52d02c7e14af7 1.0000000000000001e+23
444b1ae4d6e2ef4e 999999999999999700000
444b1ae4d6e2ef4f 999999999999999900000
444b1ae4d6e2ef50 1e+21
3eb0c6f7a0b5ed8c 9.999999999999997e-7
3eb0c6f7a0b5ed8d 0.000001
41b3de4355555553 333333333.3333332
41b3de4355555554 333333333.33333325
41b3de4355555555 333333333.3333333
41b3de4355555556 333333333.3333334
41b3de4355555557 333333333.33333343
becbf647612f3696 -0.0000033333333333333333
43143ff3c1cb0959 1424953923781206.2
"""


class CanonicalJSONTests(unittest.TestCase):
    def test_numbers_as_rfc_8785_appendix_b_writes_them(self):
        for line in NUMBERS.strip().splitlines():
            bits, expected = line.split()
            value = struct.unpack(">d", bytes.fromhex(bits))[0]
            self.assertEqual(canonical_json(value), expected, bits)

    def test_the_rfc_example_input_gives_its_canonical_text(self):
        text = r'''{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }'''
        self.assertEqual(
            canonical_json(json.loads(text)),
            '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
            '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}')

    def test_members_sorted_by_utf16_code_units_not_code_points(self):
        # U+1F600 is D83D DE00 in UTF-16: before U+FB33 there, after it by code point.
        self.assertEqual(canonical_json({"\ufb33": 1, "\U0001F600": 2}), '{"\U0001F600":2,"\ufb33":1}')

    def test_integers_and_floats_of_the_same_value_are_the_same(self):
        self.assertEqual(canonical_json({"a": 1, "b": 1.0, "c": -0.0}), '{"a":1,"b":1,"c":0}')

    def test_what_json_cannot_carry_is_refused(self):
        for value in (float("nan"), float("inf"), "\ud800", {1: "a"}, object()):
            with self.assertRaises((ValueError, TypeError)):
                canonical_json(value)

    def test_the_shared_vectors_which_the_swift_client_and_intake_agree_on(self):
        with open(os.path.join(HERE, "vectors.json"), encoding="utf-8") as file:
            vectors = json.load(file)["actions"]
        self.assertGreaterEqual(len(vectors), 3)
        for vector in vectors:
            self.assertEqual(canonical_json(vector["action"]), vector["canonical"])
            self.assertEqual(action_digest(vector["action"]), vector["digest"])
            self.assertEqual(hashlib.sha256(vector["canonical"].encode("utf-8")).hexdigest(), vector["digest"])

    def test_a_digest_is_of_the_tool_and_arguments_only_and_changes_with_either(self):
        action = {"tool": "delete_file", "arguments": {"path": "/tmp/a"}}
        self.assertEqual(action_digest(action), action_digest({"arguments": {"path": "/tmp/a"}, "tool": "delete_file"}))
        self.assertNotEqual(action_digest(action), action_digest({"tool": "delete_file", "arguments": {"path": "/tmp/b"}}))
        self.assertNotEqual(action_digest(action), action_digest({"tool": "remove_file", "arguments": {"path": "/tmp/a"}}))
        with self.assertRaises(ValueError):
            action_digest({"tool": "delete_file", "arguments": ["/tmp/a"]})


if __name__ == "__main__":
    unittest.main()
