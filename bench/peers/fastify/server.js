// The Node peer of bench/feed.py: GET /api/v1/stories answers the feed page that the
// bench stored in Redis under PEER_KEY, read on every request (PEER_MODE=redis), or
// the same bytes read once at start-up (PEER_MODE=bytes): Fastify's own ceiling.
"use strict";
const fastify = require("fastify")({ logger: false });
const Redis = require("ioredis");

const redis = new Redis(process.env.REDIS_URL);
const key = process.env.PEER_KEY;
const port = Number(process.argv[2]);
let prebuilt = null;

fastify.get("/api/v1/stories", async (request, reply) => {
  const body = prebuilt ?? (await redis.getBuffer(key));
  reply.type("application/json");
  return body;
});

redis.getBuffer(key).then(async (body) => {
  if (body === null) throw new Error(`no page under ${key}`);
  if (process.env.PEER_MODE === "bytes") prebuilt = body;
  await fastify.listen({ host: "127.0.0.1", port });
});
