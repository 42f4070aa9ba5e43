// Hash indexes for the Cosmos DB emulator, so that a query's cost follows what it selects, not
// the size of the archive. The emulator keeps no index: every query runs its compiled filter
// over every document of the container. Azure Cosmos DB indexes every path
// (shared/uid_index/indexing-policy.json); this keeps two kinds of hash index, enough for the
// service's queries, each a map from a value to the documents that hold it:
//
// - the partition key: a query sent to one partition (the SDK's partition key header), or whose
//   WHERE requires the partition key to equal a value or be one of a list, reads only those
//   partitions' documents;
// - the leading path of each composite index of the container's indexing policy (`/type`), and
//   each scalar member of a document's search keys (`/q/PatientID`, say: `SEARCH_KEYS` of
//   shared/uid_index/documents.py): a query whose WHERE requires such a path to equal a constant
//   or a parameter, or to be `IN` a list of them (one of its AND terms), reads only the
//   documents with those values.
//
// The query itself then runs as before over those candidates, so results are the emulator's own;
// only the set it scans is smaller. A query that takes the first documents in `id` order
// (`SELECT TOP n ... ORDER BY c.id`, the service's search pages) runs over the candidates' first
// documents by id, more of them until n match: its answer over all of them is the same, as every
// other candidate sorts after those (a study list reads a page, not every study). The indexes
// follow every write: they are kept in the emulator's own create, replace and delete, which
// every handler goes through (atomic batches included). Required before the emulator itself.
"use strict";

const Items = require("@vercel/cosmosdb-server/lib/account/items").default;

const set = Items.prototype._set;
const remove = Items.prototype.delete;
const query = Items.prototype.query;
const EMPTY = new Map();
const TOP_LEVEL_PATH = /^\/[A-Za-z_][A-Za-z0-9_]*$/;
// The object whose scalar members are indexed too, each as the path `q/<member>`.
const SEARCH_KEYS = "q";
// Candidates below this many are scanned whole; above it a TOP query by id reads a prefix of at
// least this many, or PREFIX_GROWTH times its TOP, and PREFIX_GROWTH times more while too few
// match.
const PREFIX_MIN = 256;
const PREFIX_GROWTH = 4;
const AGGREGATES = /"name":"(COUNT|SUM|MIN|MAX|AVG)"/i;

// The top-level paths the container's indexing policy leads its composite indexes with.
function indexedPaths(items) {
  const parent = items._parent.read();
  const composite = (parent && parent.indexingPolicy && parent.indexingPolicy.compositeIndexes) || [];
  const leading = composite.map((index) => index[0] && index[0].path).filter((p) => TOP_LEVEL_PATH.test(p || ""));
  return [...new Set(leading.map((p) => p.slice(1)))].sort();
}

function bucket(map, key) {
  let found = map.get(key);
  if (found === undefined) {
    found = new Map();
    map.set(key, found);
  }
  return found;
}

// A bucket's documents change: its id order (`byId`) is sorted again when next needed.
function enter(documents, rid, item) {
  documents.set(rid, item);
  documents.byId = undefined;
}

function leave(documents, rid) {
  if (documents.delete(rid)) documents.byId = undefined;
}

function isIndexable(value) {
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean";
}

// Each indexed path of a document that holds a scalar, with that value.
function* indexedValues(hash, data) {
  for (const path of hash.paths) {
    if (isIndexable(data[path])) yield [path, data[path]];
  }
  const keys = data[SEARCH_KEYS];
  if (keys && typeof keys === "object" && !Array.isArray(keys)) {
    for (const [member, value] of Object.entries(keys)) {
      if (isIndexable(value)) yield [`${SEARCH_KEYS}/${member}`, value];
    }
  }
}

function isIndexedPath(hash, path) {
  const [head, member, ...deeper] = path.split("/");
  return hash.paths.includes(path) || (head === SEARCH_KEYS && member !== undefined && !deeper.length);
}

function add(items, hash, data) {
  const item = items._data.get(data._rid);
  enter(bucket(hash.partitions, items._getPartition(data)), data._rid, item);
  for (const [path, value] of indexedValues(hash, data)) {
    enter(bucket(bucket(hash.values, path), value), data._rid, item);
  }
}

function drop(items, hash, data) {
  const partition = hash.partitions.get(items._getPartition(data));
  if (partition) leave(partition, data._rid);
  for (const [path, value] of indexedValues(hash, data)) {
    const values = hash.values.get(path);
    const documents = values && values.get(value);
    if (documents) leave(documents, data._rid);
  }
}

// The container's indexes, (re)built from its documents when the indexed paths change (the
// container was created, or its indexing policy replaced).
function indexesOf(items) {
  const paths = indexedPaths(items);
  const key = paths.join("/");
  if (!items._hash || items._hash.key !== key) {
    items._hash = { key, paths, partitions: new Map(), values: new Map() };
    for (const item of items._data.values()) add(items, items._hash, item.read());
  }
  return items._hash;
}

Items.prototype._set = function indexedSet(data) {
  const written = set.call(this, data);
  add(this, indexesOf(this), written);
  return written;
};

Items.prototype.delete = function indexedDelete(idOrRid, partition) {
  const data = this._item("/id", idOrRid, partition).read();
  remove.call(this, idOrRid, partition);
  if (data) drop(this, indexesOf(this), data);
};

// The path (`type`, `q/PatientID`) a member expression names under the root alias, or null.
function memberPath(expression, alias) {
  const names = [];
  let node = expression;
  while (node.type === "scalar_member_expression" && !node.computed && node.property.type === "identifier") {
    names.unshift(node.property.name);
    node = node.object;
  }
  return node.type === "identifier" && node.name === alias && names.length ? names.join("/") : null;
}

// The scalar a constant or parameter stands for, or undefined.
function scalar(node, parameters) {
  if (node.type === "string_constant" || node.type === "number_constant") return node.value;
  if (node.type !== "parameter_name") return undefined;
  const parameter = (parameters || []).find((p) => p.name === node.name);
  return parameter && isIndexable(parameter.value) ? parameter.value : undefined;
}

// The values an AND term of the WHERE clause requires paths of the root alias to be one of:
// `path = value`, or `path IN (values)`.
function equalities(condition, alias, parameters, found = new Map()) {
  if (!condition) return found;
  if (condition.type === "scalar_in_expression") {
    const path = memberPath(condition.value, alias);
    const values = condition.list.map((item) => scalar(item, parameters));
    if (path !== null && values.every((v) => v !== undefined)) found.set(path, values);
    return found;
  }
  if (condition.type !== "scalar_binary_expression") return found;
  if (condition.operator === "AND") {
    equalities(condition.left, alias, parameters, found);
    equalities(condition.right, alias, parameters, found);
    return found;
  }
  const path = condition.operator === "=" ? memberPath(condition.left, alias) : null;
  const value = path === null ? undefined : scalar(condition.right, parameters);
  if (value !== undefined) found.set(path, [value]);
  return found;
}

// The documents holding any of `values` in one index (a bucket itself for one value).
function holding(index, values) {
  const buckets = values.map((value) => (index && index.get(value)) || EMPTY);
  if (buckets.length === 1) return buckets[0];
  const union = new Map();
  for (const documents of buckets) for (const [rid, item] of documents) union.set(rid, item);
  return union;
}

function rootAlias(ast) {
  const source = ast.body && ast.body.from && ast.body.from.source;
  if (!source) return null;
  if (source.alias) return source.alias.name;
  const expression = source.expression && source.expression.expression;
  return expression && expression.type === "identifier" ? expression.name : null;
}

// The smallest index entry the query is bound to, or null when no index applies.
function candidates(items, params, partition) {
  const hash = indexesOf(items);
  const ast = items._getQuery(params.query).ast;
  const choices = [];
  if (partition !== undefined) choices.push(hash.partitions.get(partition) || EMPTY);
  const alias = rootAlias(ast);
  const partitionKeyPath = items._getPartitionKeyPath().join("/");
  if (alias && ast.body.where) {
    for (const [path, values] of equalities(ast.body.where.condition, alias, params.parameters)) {
      if (path === partitionKeyPath) choices.push(holding(hash.partitions, values));
      else if (isIndexedPath(hash, path)) choices.push(holding(hash.values.get(path), values));
    }
  }
  if (!choices.length) return null;
  return choices.reduce((a, b) => (b.size < a.size ? b : a));
}

// The n of a query that answers the first n matches in id order (`SELECT TOP n ... ORDER BY
// <alias>.id`, ascending, without JOIN or aggregate), or null for any other query.
function topById(ast, alias, parameters) {
  const { top, orderBy, from, select } = ast.body;
  if (!top || !orderBy || orderBy.expressions.length !== 1 || (from.joins || []).length) return null;
  const [sort] = orderBy.expressions;
  if (sort.order === "DESC" || memberPath(sort.expression, alias) !== "id") return null;
  if (AGGREGATES.test(JSON.stringify(select))) return null;
  let n = top.value.type === "number_constant" ? top.value.value : undefined;
  if (top.value.type === "parameter_name") {
    const parameter = (parameters || []).find((p) => p.name === top.value.name);
    n = parameter && parameter.value;
  }
  return Number.isInteger(n) && n > 0 ? n : null;
}

// A bucket's [rid, item] pairs in the emulator's order for ORDER BY id: by id, then by _rid
// (ids repeat across partitions); both are strings, which it compares with `<`.
function sortedById(documents) {
  if (documents.byId === undefined) {
    const key = ([rid, item]) => [item.read().id, rid];
    const keyed = [...documents.entries()].map((entry) => [key(entry), entry]);
    keyed.sort(([[a, x]], [[b, y]]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
    documents.byId = keyed.map(([, entry]) => entry);
  }
  return documents.byId;
}

// The emulator's own query over `documents` only (it reads `_data`; nothing awaits in it).
function queryOver(items, documents, params, options) {
  const all = items._data;
  items._data = documents;
  try {
    return query.call(items, params, options);
  } finally {
    items._data = all;
  }
}

Items.prototype.query = function indexedQuery(params, options) {
  if (!this._parent.read()) return null;
  const narrowed = candidates(this, params, options.partition);
  if (narrowed === null) return query.call(this, params, options);
  const ast = this._getQuery(params.query).ast;
  const top = narrowed.size > PREFIX_MIN ? topById(ast, rootAlias(ast), params.parameters) : null;
  if (top !== null) {
    const order = sortedById(narrowed);
    let size = Math.max(PREFIX_MIN, top * PREFIX_GROWTH);
    for (; size < order.length; size *= PREFIX_GROWTH) {
      const prefix = new Map(order.slice(0, size));
      // The page asked for is the same over the prefix once its TOP is full there.
      const all = queryOver(this, prefix, params, { partition: options.partition });
      if (all.result.length >= top) {
        const paged = options.maxItemCount > 0 || Boolean(options.continuation);
        return paged ? queryOver(this, prefix, params, options) : all;
      }
    }
  }
  return queryOver(this, narrowed, params, options);
};
