// What a team would otherwise write (issue #8, comparison 2): an Express
// server that verifies Plaid webhooks the way Plaid's documented Node sample
// does — kid from the JWT header, key from /webhook_verification_key/get in a
// KEY_CACHE, refuse expired keys, jose importJWK + jwtVerify with
// maxTokenAge "5 min", then SHA-256 of the raw body compared with the
// request_body_sha256 claim — and stores the same bytes in the JetStream
// stream PLAID_WEBHOOKS with the NATS JavaScript client, answering 200 only
// after the PubAck.
//
// Deviations from the sample, none of which make it slower: the raw body is
// read with express.raw (the sample's body must be the exact bytes too),
// Node's crypto replaces js-sha256 and secure-compare, and the key is fetched
// with fetch() instead of the plaid npm client (same request). It is a
// benchmark peer, not production code.
//
// Environment: LISTEN (127.0.0.1:7604), NATS_URL (nats://127.0.0.1:4222),
// PLAID_BASE_URL (the key server), PLAID_CLIENT_ID, PLAID_SECRET.
import crypto from "node:crypto";
import express from "express";
import { decodeProtectedHeader, importJWK, jwtVerify } from "jose";
import { connect, headers as natsHeaders } from "nats";

const listen = process.env.LISTEN ?? "127.0.0.1:7604";
const natsURL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const plaidBaseURL = process.env.PLAID_BASE_URL ?? "http://127.0.0.1:8600";
const clientID = process.env.PLAID_CLIENT_ID ?? "test_client_id";
const secret = process.env.PLAID_SECRET ?? "test_secret";

const KEY_CACHE = new Map();

async function webhookVerificationKeyGet(keyID) {
  const res = await fetch(plaidBaseURL + "/webhook_verification_key/get", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ client_id: clientID, secret, key_id: keyID }),
  });
  if (!res.ok) return null;
  return (await res.json()).key;
}

// verify follows Plaid's sample step by step.
async function verify(body, signedJwt) {
  if (!signedJwt) return false;
  let currentKeyID;
  try {
    currentKeyID = decodeProtectedHeader(signedJwt).kid;
  } catch {
    return false;
  }
  if (!KEY_CACHE.has(currentKeyID)) {
    const key = await webhookVerificationKeyGet(currentKeyID);
    if (key) KEY_CACHE.set(currentKeyID, key);
  }
  if (!KEY_CACHE.has(currentKeyID)) return false;
  const key = KEY_CACHE.get(currentKeyID);
  if (key.expired_at != null) return false;
  let payload;
  try {
    const keyLike = await importJWK(key, "ES256");
    ({ payload } = await jwtVerify(signedJwt, keyLike, { maxTokenAge: "5 min", algorithms: ["ES256"] }));
  } catch {
    return false;
  }
  const bodyHash = crypto.createHash("sha256").update(body).digest("hex");
  const claimed = String(payload.request_body_sha256 ?? "");
  if (claimed.length !== bodyHash.length) return false;
  return crypto.timingSafeEqual(Buffer.from(bodyHash), Buffer.from(claimed));
}

async function main() {
  const nc = await connect({ servers: natsURL, name: "bench-node" });
  const js = nc.jetstream();
  const app = express();
  app.post("/plaid/webhook", express.raw({ type: () => true, limit: "64kb" }), async (req, res) => {
    const token = req.get("plaid-verification");
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!(await verify(body, token))) {
      res.status(401).json({ error: "unauthorized" });
      return;
    }
    let env;
    try {
      env = JSON.parse(body.toString("utf8"));
    } catch {
      res.status(400).json({ error: "bad_request" });
      return;
    }
    const h = natsHeaders();
    h.set("Nats-Msg-Id", crypto.createHash("sha256").update(token).digest("hex"));
    try {
      await js.publish(`plaid.webhooks.${env.webhook_type}.${env.webhook_code}`, body, {
        msgID: h.get("Nats-Msg-Id"),
        expect: { streamName: "PLAID_WEBHOOKS" },
        timeout: 3000,
      });
    } catch {
      res.status(503).json({ error: "unavailable" });
      return;
    }
    res.status(200).json({ status: "ok" });
  });
  const [host, port] = listen.split(/:(?=\d+$)/);
  const server = app.listen(Number(port), host, () => {
    console.log(`bench-node listening on http://${listen}/plaid/webhook`);
  });
  server.keepAliveTimeout = 60_000;
  const stop = async () => {
    server.close();
    await nc.drain();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
