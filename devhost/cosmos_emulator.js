// Cosmos DB for NoSQL emulator for local runs and tests: @vercel/cosmosdb-server over HTTPS on
// 127.0.0.1, in memory only. Usage: node devhost/cosmos_emulator.js [PORT]
// (default: $COSMOS_EMULATOR_PORT, else 8081).
"use strict";

// Before the emulator itself, whose route table takes these handlers when it loads.
require("./cosmos_atomic_batch");
require("./cosmos_indexes");
const readMeta = require("@vercel/cosmosdb-server/lib/handler/read-meta");

// The account's regional endpoints, to which the SDK sends every call after the first, name the
// address the client reached (its Host header), not the one the emulator listens on: behind a
// forwarder (the benchmark's latency proxy) the SDK then stays behind it. Without one both are
// the same address.
const readAccount = readMeta.default;
readMeta.default = (account, req) => {
  const meta = readAccount(account);
  if (!req.headers.host) return meta;
  const endpoint = `https://${req.headers.host}/`;
  const reached = (location) => ({ ...location, databaseAccountEndpoint: endpoint });
  return {
    ...meta,
    writableLocations: meta.writableLocations.map(reached),
    readableLocations: meta.readableLocations.map(reached),
  };
};
const { createHttpsServer } = require("@vercel/cosmosdb-server");

const HOST = "127.0.0.1";
const port = Number.parseInt(process.argv[2] || process.env.COSMOS_EMULATOR_PORT || "8081", 10);

if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`cosmos emulator: invalid port ${JSON.stringify(process.argv[2])}`);
  process.exit(2);
}

// Keep-alive lets azure-cosmos reuse its TLS connections instead of paying a handshake per call.
const server = createHttpsServer({ keepAlive: true });

server.on("error", (error) => {
  console.error(`cosmos emulator: cannot listen on ${HOST}:${port}: ${error.message}`);
  process.exit(1);
});

server.listen(port, HOST, () => {
  console.log(`Cosmos DB emulator listening on https://${HOST}:${server.address().port}/`);
});

// Open client connections would hold close() open, and closeAllConnections() misses TLS sockets
// that carry no HTTP request yet; nothing is persisted, so every socket is simply destroyed.
const sockets = new Set();
server.on("connection", (socket) => {
  sockets.add(socket);
  socket.once("close", () => sockets.delete(socket));
});

function shutdown(signal) {
  console.log(`cosmos emulator: ${signal} received, closing`);
  server.close(() => process.exit(0));
  for (const socket of sockets) {
    socket.destroy();
  }
}

process.once("SIGTERM", () => shutdown("SIGTERM"));
process.once("SIGINT", () => shutdown("SIGINT"));
