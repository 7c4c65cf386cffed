"""Bodies every Prism webhook receiver refuses, and why: one corpus for the shared pipeline
(plugins/module_utils/webhook_receiver.py) and for both receivers that adapt it (the listener, the EDA source)."""

BAD_BODIES = [
    (b"", "malformed_json"),
    (b"{not json", "malformed_json"),
    (b"\xff\xfe\x00garbage", "malformed_json"),
    (b"[" * 100000, "malformed_json"),
    (b"[]", "not_an_event"),
    (b'"VM.ON"', "not_an_event"),
    (b'{"event_type": "VM.ON"}', "not_an_event"),
    (b'{"event_type": "VM.ON", "entity_reference": {}, "data": {}}', "not_an_event"),
    (b'{"event_type": 5, "entity_reference": {"uuid": "u"}, "data": {}}', "not_an_event"),
    (b'{"event_type": "VM.ON", "entity_reference": {"uuid": "u\\ud800"}, "data": {}}', "invalid_text"),
    (b'{"event_type": "VM.ON", "entity_reference": {"uuid": "u"}, "data": {"metadata": {"\\udc00": 1}}}',
     "invalid_text"),
    (b'{"event_type": "VM.ON", "entity_reference": {"uuid": "u\\n2"}, "data": {}}', "not_an_event"),
    (b'{"event_type": "VM.ON\\u0000", "entity_reference": {"uuid": "u"}, "data": {}}', "not_an_event"),
]
BAD_IDS = ["empty", "broken", "binary", "deep", "list", "string", "no-entity", "no-uuid", "bad-type", "surrogate-uuid",
           "surrogate-key", "newline-uuid", "nul-type"]
