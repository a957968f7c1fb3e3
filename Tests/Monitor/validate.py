# Validates a `revenant monitor --transcript` file against Docs/monitor-protocol.schema.json:
# every line revenant sent against the schema, every request it answered with a reply against
# the schema's request definition. Prints one line per invalid message; exit 1 if there was any.
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
messages = jsonschema.Draft202012Validator(schema)
requests = jsonschema.Draft202012Validator({"$defs": schema["$defs"], "$ref": "#/$defs/request"})
sent, replied, bad, count = {}, set(), 0, 0
for line in open(sys.argv[2]):
    who, _, text = line.rstrip("\n").partition(": ")
    m = json.loads(text)
    count += 1
    if who == "monitor":
        sent[m.get("id")] = m
        continue
    for e in messages.iter_errors(m):
        bad += 1
        print("revenant:", text[:200], "--", e.message[:200])
    if m["type"] == "reply":
        replied.add(m["id"])
for i in replied:
    for e in requests.iter_errors(sent[i]):
        bad += 1
        print("monitor:", json.dumps(sent[i])[:200], "--", e.message[:200])
print(f"{count} messages, {bad} invalid")
sys.exit(1 if bad else 0)
