// Transactional batches all or nothing, as Azure Cosmos DB runs them: the emulator applies a
// batch's operations one by one and keeps those before a failed one. Required before the
// emulator itself, so that its route table takes this handler.
"use strict";

const batchHandler = require("@vercel/cosmosdb-server/lib/handler/batch-documents");
const operations = require("@vercel/cosmosdb-server/lib/handler/_document-operations");
const { parsePartitionKey } = require("@vercel/cosmosdb-server/lib/utils/get-partition-from-header");
const { BulkOperationType } = require("@vercel/cosmosdb-server/lib/types");
const json = require("@vercel/cosmosdb-server/lib/json").default;

const runners = {
  [BulkOperationType.Create]: operations.createOperation,
  [BulkOperationType.Upsert]: operations.upsertOperation,
  [BulkOperationType.Read]: operations.readOperation,
  [BulkOperationType.Delete]: operations.deleteOperation,
  [BulkOperationType.Replace]: operations.replaceOperation,
};

const FAILED_DEPENDENCY = 424;

function isAtomic(req) {
  return String(req.headers["x-ms-cosmos-batch-atomic"]).toLowerCase() === "true";
}

// The batch's documents as they were, so that a failed batch leaves them so. Nothing awaits
// between reading them and running the batch, so no other request changes them meanwhile.
function snapshot(collection, inputs) {
  const before = new Map();
  for (const input of inputs) {
    const id = input.id || (input.resourceBody && input.resourceBody.id);
    if (id === undefined) continue;
    const partition = parsePartitionKey(input.partitionKey, id);
    const key = JSON.stringify([partition, id]);
    if (!before.has(key)) before.set(key, [id, partition, collection.document(id, partition).read()]);
  }
  return before;
}

function restore(collection, before) {
  const documents = collection.documents;
  for (const [id, partition, original] of [...before.values()].reverse()) {
    if (collection.document(id, partition).read()) documents.delete(id, partition);
    // eslint-disable-next-line no-underscore-dangle
    if (original) documents._set(original);
  }
}

async function atomicBatch(account, req, res, { dbId, collId }) {
  const body = await json(req);
  const collection = account.database(dbId).collection(collId);
  if (!collection.read()) {
    res.statusCode = 404;
    return {};
  }
  if (!Array.isArray(body) || body.some((input) => !input || !runners[input.operationType])) {
    res.statusCode = 400;
    return { message: "Invalid request body" };
  }
  const inputs = body.map((input) => ({ partitionKey: req.headers["x-ms-documentdb-partitionkey"], ...input }));
  const before = snapshot(collection, inputs);
  const results = [];
  for (const input of inputs) {
    const result = runners[input.operationType](collection, input);
    results.push(result);
    if (result.statusCode >= 400) {
      restore(collection, before);
      return inputs.map((_, i) =>
        i === results.length - 1
          ? { statusCode: result.statusCode, requestCharge: 0 }
          : { statusCode: FAILED_DEPENDENCY, requestCharge: 0 },
      );
    }
  }
  return results.map((result) => ({
    statusCode: result.statusCode,
    requestCharge: 1,
    eTag: result.body ? result.body._etag : undefined,
    resourceBody: result.body,
  }));
}

const nonAtomicBatch = batchHandler.default;
batchHandler.default = (account, req, res, params) =>
  (isAtomic(req) ? atomicBatch : nonAtomicBatch)(account, req, res, params);
