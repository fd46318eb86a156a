"use strict";
// A Socket.IO 4 room relay, the peer that cmd/chatload -protocol socketio
// measures against: the few lines a chat built on Socket.IO needs to relay
// room messages. Listens on 127.0.0.1:$PORT, WebSocket transport only.
//   join (room, ack)          joins the room, then acks
//   send ({room, text}, ack)  emits message {room, text} to every socket in
//                             the room (the sender's too if it joined, as
//                             the chat server does), then acks
// With REDIS_URL set, rooms are shared through the Redis adapter, so that
// several processes relay to each other's sockets. GET /healthz answers 200.
const http = require("node:http");
const v8 = require("node:v8");
const vm = require("node:vm");
const { Server } = require("socket.io");

const port = Number(process.env.PORT || 3000);

// chatload collects a server's garbage before each memory reading, through
// the Go server's /debug/pprof/heap?gc=1: the same request collects V8's
// here, so that resident memory counts no garbage on either side.
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc");

const httpServer = http.createServer((req, res) => {
  if (req.url === "/debug/pprof/heap?gc=1") {
    gc();
    res.writeHead(200).end();
    return;
  }
  res.writeHead(req.url === "/healthz" ? 200 : 404).end();
});
const io = new Server(httpServer, { transports: ["websocket"], serveClient: false });

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    if (typeof room !== "string") return;
    socket.join(room);
    if (typeof ack === "function") ack();
  });
  socket.on("send", (msg, ack) => {
    if (msg === null || typeof msg !== "object" || typeof msg.room !== "string") return;
    io.to(msg.room).emit("message", { room: msg.room, text: msg.text });
    if (typeof ack === "function") ack();
  });
});

async function useRedis(url) {
  const { createClient } = require("redis");
  const { createAdapter } = require("@socket.io/redis-adapter");
  // Retry for 5 s, then fail: a relay without its Redis is no relay.
  const reconnectStrategy = (retries) => (retries < 50 ? 100 : new Error(`no Redis at ${url}`));
  // No command timeout (node-redis 5 and later default to 5 s): the adapter
  // publishes without waiting, and a publish that timed out under load would
  // be an unhandled rejection that ends the process. Publishes queue instead,
  // as with the node-redis 4 of the adapter's documentation.
  const pub = createClient({ url, socket: { reconnectStrategy }, commandOptions: { timeout: undefined } });
  const sub = pub.duplicate();
  let last = ""; // each error once, not once per retry
  for (const c of [pub, sub]) c.on("error", (err) => err.message !== last && console.error("redis:", (last = err.message)));
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
}

async function main() {
  if (process.env.REDIS_URL) await useRedis(process.env.REDIS_URL);
  httpServer.listen(port, "127.0.0.1", () => {
    console.log(`socket.io relay on 127.0.0.1:${port}${process.env.REDIS_URL ? " with the Redis adapter" : ""}`);
  });
}

// Nothing to flush: the sockets close with the process.
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0));

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
