// The Node peer of bench/feed.py and bench/overhead.py. GET /api/v1/stories answers the
// feed page that the bench stored in Redis under PEER_KEY, read on every request
// (PEER_MODE=redis), or the same bytes read once at start-up (PEER_MODE=bytes):
// Fastify's own ceiling. GET /healthz answers {"status":"ok"} (bench/overhead.py, which
// sets no PEER_KEY and needs no Redis).
"use strict";
const fastify = require("fastify")({ logger: false });

const key = process.env.PEER_KEY;
const port = Number(process.argv[2]);
const healthy = Buffer.from('{"status":"ok"}');
let prebuilt = null;

fastify.get("/healthz", async (request, reply) => {
  reply.type("application/json");
  return healthy;
});

async function main() {
  if (key) {
    const Redis = require("ioredis");
    const redis = new Redis(process.env.REDIS_URL);
    const body = await redis.getBuffer(key);
    if (body === null) throw new Error(`no page under ${key}`);
    if (process.env.PEER_MODE === "bytes") prebuilt = body;
    fastify.get("/api/v1/stories", async (request, reply) => {
      reply.type("application/json");
      return prebuilt ?? (await redis.getBuffer(key));
    });
  }
  await fastify.listen({ host: "127.0.0.1", port });
}

main();
