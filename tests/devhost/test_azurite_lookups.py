"""Azurite's blob lookups with their most selective field first (``devhost/azurite_lookups.js``)
answer what they did: LokiJS queries through the hook, against a filter of every document, for
queries on the fields Azurite looks blobs and blocks up by."""

from __future__ import annotations

import pytest

from tests.devhost.node_hooks import run_under_hook

SCRIPT = r"""
const { reordered } = require(process.argv[1]);
const loki = require("lokijs");
const collection = new loki("test").addCollection("blobs", {
  indices: ["accountName", "containerName", "blobName", "name", "snapshot"],
});
const docs = [];
for (let n = 0; n < 600; n += 1) {
  docs.push({
    accountName: n % 7 === 0 ? "other" : "devstoreaccount1",
    containerName: `c${n % 3}`,
    blobName: `b${n % 50}`,
    name: `n${n % 40}`,
    snapshot: n % 11 === 0 ? "2026-01-01" : "",
    n,
  });
}
docs.forEach((doc) => collection.insert({ ...doc }));
const matches = (query) => (doc) => Object.entries(query).every(([k, v]) => doc[k] === v);
const ns = (found) => found.map((doc) => doc.n).sort((a, b) => a - b);
const queries = [
  { accountName: "devstoreaccount1", containerName: "c1", name: "n5", snapshot: "" },
  { accountName: "devstoreaccount1", containerName: "c2", blobName: "b7", name: "n7" },
  { accountName: "other", name: "n0" },
  { containerName: "c0", snapshot: "2026-01-01" },
  { name: "n39", accountName: "devstoreaccount1" },
  { accountName: "devstoreaccount1", containerName: "c1", name: "missing" },
];
const results = queries.map((query) => {
  const expected = ns(docs.filter(matches(query)));
  const one = collection.findOne(query);
  return {
    query,
    lead: Object.keys(reordered(query))[0],
    find: ns(collection.find(query)),
    chained: ns(collection.chain().find(query).data()),
    findOne: one === null ? null : one.n,
    expected,
  };
});
console.log(JSON.stringify(results));
"""


@pytest.mark.integration
def test_lookups_answer_what_a_filter_of_every_document_does() -> None:
    results = run_under_hook("azurite_lookups.js", SCRIPT)
    for result in results:
        query, expected = result["query"], result["expected"]
        assert result["find"] == result["chained"] == expected, query
        assert (result["findOne"] is None) == (not expected), query
        assert result["findOne"] is None or result["findOne"] in expected, query
        lead = next((f for f in ("blobName", "name") if f in query), next(iter(query)))
        assert result["lead"] == lead, query
    assert any(r["expected"] for r in results) and any(not r["expected"] for r in results)
