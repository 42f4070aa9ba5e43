// Azurite's blob lookups by name, made to use the index on the name, so that a blob read or
// written costs the same in a container of a hundred blobs as in one of a hundred thousand.
//
// Azurite keeps blob and block metadata in LokiJS collections indexed on each key field, and looks
// a blob up with `{ accountName, containerName, name, snapshot }`. LokiJS runs an object query's
// fields in the order written, through the index of the first one only: every blob has the same
// account name, so each lookup scanned all of them (0.25 ms per lookup among 1,000 blobs, 7 ms
// among 50,000, several per request). This reorders a lookup's fields so the most selective one
// it holds comes first (`blobName`, the blob of a block; then `name`); an AND of equalities
// answers the same in any order. Loaded before Azurite: node --require ./azurite_lookups.js.
"use strict";

const loki = require("lokijs");

// Fields that single out one document or a few, most selective first.
const SELECTIVE = ["blobName", "name"];

function isPlainQuery(query) {
  return query !== null && typeof query === "object" && !Array.isArray(query);
}

// The same query with its most selective field first (a new object; the caller's is unchanged).
function reordered(query) {
  if (!isPlainQuery(query)) return query;
  const lead = SELECTIVE.find((field) => Object.prototype.hasOwnProperty.call(query, field));
  if (lead === undefined || Object.keys(query)[0] === lead) return query;
  return { [lead]: query[lead], ...query };
}

for (const [type, method] of [
  [loki.Collection, "find"],
  [loki.Collection, "findOne"],
  [loki.Resultset, "find"],
]) {
  const original = type.prototype[method];
  type.prototype[method] = function selectiveFirst(query, ...rest) {
    return original.call(this, reordered(query), ...rest);
  };
}

module.exports = { reordered };
